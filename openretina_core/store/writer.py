"""Writing one prepared entry's arrays into its ``.part`` folder: through plain file writes (``put``) or a
writable mapping (``allocate``), with blocks reserved first so a full disk is an error and not a bus fault,
and an in-memory fallback when the store cannot be written.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from attrs import define

from openretina_core.files.fetch import disk_space_error
from openretina_core.files.progress import byte_bar
from openretina_core.store.layout import CHUNK_BYTES, StoreWriteError, check_name, digest_file

logger = logging.getLogger(__name__)


class EntryWriter:
    """Writes one entry's arrays into its ``.part`` folder; ``prepare_entry`` commits or discards it.

    With ``memory_fallback``, a folder that cannot be written (read-only, full) switches the writer to memory:
    ``allocate`` then returns ordinary arrays and the entry is served from memory, with one warning.
    """

    def __init__(self, folder: Path | None, memory_fallback: bool = False) -> None:
        self.folder = folder
        self.memory_fallback = memory_fallback
        self.user_meta: dict[str, Any] = {}
        self._arrays: dict[str, np.ndarray | _WrittenFile] = {}
        self.in_memory = folder is None
        if folder is not None:
            try:
                folder.mkdir(parents=True)
            except OSError as exc:
                self._cannot_write(
                    StoreWriteError(exc.errno, f"cannot create {folder}: {exc.strerror or exc}")
                )

    def _cannot_write(self, error: OSError) -> None:
        if not self.memory_fallback:
            raise error
        logger.warning("%s; this entry is kept in memory instead of the prepared store", error)
        self.in_memory = True

    def allocate(self, name: str, shape: Sequence[int], dtype: Any = np.float32) -> np.ndarray:
        """A new array of ``shape`` and ``dtype`` mapped for writing (fill it in place, chunk by chunk)."""
        check_name("array", name)
        if name in self._arrays:
            raise ValueError(f"array {name!r} was already written to this entry")
        shape = tuple(int(s) for s in shape)
        if not self.in_memory:
            assert self.folder is not None
            try:
                mapped = _mapped_file(self.folder / f"{name}.npy", shape, np.dtype(dtype))
                self._arrays[name] = mapped
                return mapped
            except OSError as exc:
                self._cannot_write(exc)
        array = np.empty(shape, dtype=np.dtype(dtype))
        self._arrays[name] = array
        return array

    def in_memory_arrays(self) -> dict[str, np.ndarray]:
        """Every array as an in-memory array (mapped or written ones read back), for an entry that will not
        be committed."""
        arrays = {}
        for name, array in self._arrays.items():
            if isinstance(array, _WrittenFile):
                assert self.folder is not None
                arrays[name] = np.load(self.folder / f"{name}.npy", allow_pickle=False)
            else:
                arrays[name] = np.array(array) if isinstance(array, np.memmap) else array
        return arrays

    def put(
        self, name: str, values: np.ndarray, dtype: Any = None, progress: Callable[[int], Any] | None = None
    ) -> None:
        """Write ``values`` (any array-like, e.g. an h5py dataset) as array ``name``, in bounded chunks;
        ``progress(nbytes)`` is called after each chunk (e.g. a byte bar's ``update``)."""
        source = values if hasattr(values, "shape") and hasattr(values, "dtype") else np.asarray(values)
        wanted = np.dtype(dtype if dtype is not None else source.dtype)
        if not self.in_memory and len(source.shape):
            check_name("array", name)
            if name in self._arrays:
                raise ValueError(f"array {name!r} was already written to this entry")
            assert self.folder is not None
            try:  # written through the file, not a mapping: the process keeps no page of it
                self._arrays[name] = _write_file(self.folder / f"{name}.npy", source, wanted, progress)
                return
            except OSError as exc:
                (self.folder / f"{name}.npy").unlink(missing_ok=True)
                self._cannot_write(exc)
        target = self.allocate(name, source.shape, wanted)
        if target.ndim == 0:
            target[()] = source[()]
            return
        row_bytes = max(1, target.nbytes // max(1, target.shape[0]))
        step = max(1, CHUNK_BYTES // row_bytes)
        for start in range(0, target.shape[0], step):
            target[start : start + step] = source[start : start + step]
            if progress is not None:
                progress(min(step, target.shape[0] - start) * row_bytes)

    def put_packed(
        self,
        name: str,
        members: Sequence[np.ndarray],
        dtype: Any,
        progress: Callable[[int], Any] | None = None,
    ) -> list[bool]:
        """Write ``members`` (arrays of one dtype, any shapes) one after the other into one flat array ``name``,
        each in C order; the caller records their offsets. Returns whether each member is all finite, so a
        session's view keeps its own flag when another member holds NaNs."""
        check_name("array", name)
        if name in self._arrays:
            raise ValueError(f"array {name!r} was already written to this entry")
        wanted = np.dtype(dtype)
        if not self.in_memory:
            assert self.folder is not None
            try:
                written, finite = _write_packed(self.folder / f"{name}.npy", members, wanted, progress)
                self._arrays[name] = written
                return finite
            except OSError as exc:
                (self.folder / f"{name}.npy").unlink(missing_ok=True)
                self._cannot_write(exc)
        flat = [np.ascontiguousarray(m, dtype=wanted).reshape(-1) for m in members]
        self._arrays[name] = np.concatenate(flat) if flat else np.empty(0, wanted)
        return [_all_finite(m) for m in flat]

    def _finish(self) -> tuple[dict[str, Any], int]:
        """Hash, check finiteness and stamp every array; make the files read-only."""
        assert self.folder is not None
        specs: dict[str, Any] = {}
        total = sum(int(a.nbytes) for a in self._arrays.values())
        layouts = {name: (tuple(a.shape), a.dtype) for name, a in self._arrays.items()}
        checked = {  # written through the file: hashed and checked while written, not read again
            name: (array.sha256, array.finite)
            for name, array in self._arrays.items()
            if isinstance(array, _WrittenFile) and array.sha256 is not None
        }
        for name, array in self._arrays.items():
            if isinstance(array, np.memmap):  # hashed where it lies: the mapping's pages are the file's
                checked[name] = _check_mapped(array)
        self._arrays.clear()  # drop the writable mappings: the check below reads the files
        with byte_bar(f"checking {self.folder.name[:24]}", total=total) as bar:
            for name, (shape, dtype) in layouts.items():
                if name in checked:
                    digest, finite = checked[name]
                else:
                    digest, finite = digest_file(self.folder / f"{name}.npy", bar.update)
                specs[name] = {
                    "shape": list(shape),
                    "dtype": dtype.str,
                    "bytes": int(np.prod(shape, dtype=np.int64)) * dtype.itemsize,
                    "sha256": digest,
                    "finite": finite,
                }
        for name, spec in specs.items():
            path = self.folder / f"{name}.npy"
            path.chmod(0o444)
            stat = path.stat()
            spec["size"], spec["mtime_ns"] = stat.st_size, stat.st_mtime_ns
        return specs, total


@define(frozen=True)
class _WrittenFile:
    """An array written through its file (``EntryWriter.put``): only its layout stays in the writer."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    sha256: str | None = None  # of the data bytes, taken while they were written
    finite: bool = True

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


class _ChunkCheck:
    """sha256 and finiteness of the chunks of one array, taken while the array is written instead of reading the
    file again afterwards. From the second chunk on they are taken in a helper thread in order (hashlib and numpy
    release the GIL), overlapping the next chunk's read and write; an array of one chunk is checked inline (a
    thread per small array cost more than it saved: 0.9 s for the 540 arrays of a Höfling first load). At most
    three chunks are held, so memory stays bounded."""

    def __init__(self, dtype: np.dtype[Any]) -> None:
        self.digest = hashlib.sha256()
        self.digest_hex: str | None = None  # set once every chunk is checked
        self.finite = True
        self.nonfinite_members: set[int] = set()  # for packed files: which members hold NaN or inf
        self._floating = bool(np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.complexfloating))
        self._pool: ThreadPoolExecutor | None = None
        self._first: tuple[np.ndarray, int | None] | None = None
        self._pending: list[Future[None]] = []

    def _check(self, chunk: np.ndarray, member: int | None = None) -> None:
        self.digest.update(chunk.data)
        if self._floating and (self.finite or member is not None) and not _all_finite(chunk):
            self.finite = False
            if member is not None:
                self.nonfinite_members.add(member)

    def _submit(self, chunk: np.ndarray, member: int | None) -> None:
        assert self._pool is not None
        while len(self._pending) >= 2:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._check, chunk, member))

    def add(self, chunk: np.ndarray, member: int | None = None) -> None:
        """Check ``chunk`` (of packed member ``member``, when given: its finiteness is recorded apart)."""
        if self._pool is None:
            if self._first is None:
                self._first = (chunk, member)
                return
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-check")
            self._submit(*self._first)
            self._first = None
        self._submit(chunk, member)

    def finish(self) -> str:
        if self._first is not None:
            self._check(*self._first)
            self._first = None
        for future in self._pending:
            future.result()
        self._pending.clear()
        return self.digest.hexdigest()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _write_chunks(
    path: Path,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    chunks: Iterable[tuple[np.ndarray, int | None]],
    progress: Callable[[int], Any] | None,
) -> _ChunkCheck:
    """Write a ``.npy`` file of ``shape`` from ``chunks`` (C-ordered pieces in ``dtype``, each with its packed
    member or None) with plain writes, blocks reserved first, hashing and checking each chunk as it is written.
    A full disk is a clear error naming the folder."""
    nbytes = _WrittenFile(shape, dtype).nbytes
    check = _ChunkCheck(dtype)
    try:
        with open(path, "wb") as handle:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_2_0(handle, header)
            if hasattr(os, "posix_fallocate") and nbytes:
                os.posix_fallocate(handle.fileno(), 0, handle.tell() + nbytes)
            for chunk, member in chunks:
                handle.write(chunk.data)
                check.add(chunk, member)
                if progress is not None:
                    progress(chunk.nbytes)
        check.digest_hex = check.finish()
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise disk_space_error(path.parent, nbytes, exc) from exc
        raise StoreWriteError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        check.close()
    return check


def _write_file(
    path: Path, source: Any, dtype: np.dtype[Any], progress: Callable[[int], Any] | None
) -> _WrittenFile:
    """Write ``source`` (any array-like: sliced in bounded chunks along its first axis) as a ``.npy`` file."""
    shape = tuple(int(s) for s in source.shape)
    row_bytes = max(1, _WrittenFile(shape, dtype).nbytes // max(1, shape[0]))
    step = max(1, CHUNK_BYTES // row_bytes)
    chunks = (
        (np.ascontiguousarray(source[start : start + step], dtype=dtype), None)
        for start in range(0, shape[0], step)
    )
    check = _write_chunks(path, shape, dtype, chunks, progress)
    return _WrittenFile(shape, dtype, check.digest_hex, check.finite)


def _check_mapped(array: np.memmap) -> tuple[str, bool]:
    """sha256 of a mapped array's data bytes and whether its values are all finite, from the mapping itself.
    Its pages are the file's pages in the page cache, so a reader of the renamed file sees them without a flush
    (``msync`` only forces them to disk, as nothing else in the store does) and nothing is read back: for ten
    generic-HDF5 sessions the flush and the read-back were 0.44 s of a 1.2 s first load."""
    flat = array.reshape(-1)
    check = _ChunkCheck(array.dtype)
    try:
        step = max(1, CHUNK_BYTES // max(1, array.itemsize))
        for start in range(0, flat.size, step):
            check.add(np.asarray(flat[start : start + step]))
        return check.finish(), check.finite
    finally:
        check.close()


def _mapped_file(path: Path, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.memmap:
    """A new ``.npy`` file mapped for writing, its blocks reserved first: a full disk is an error here, not a
    bus fault while the mapping is written."""
    try:
        array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        if hasattr(os, "posix_fallocate") and array.nbytes:
            with open(path, "r+b") as handle:
                os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise disk_space_error(path.parent, int(np.prod(shape)) * dtype.itemsize, exc) from exc
        raise StoreWriteError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    return array


def _all_finite(array: np.ndarray) -> bool:
    """Whether every value is finite. A finite sum proves it (no temporary mask: ~3x faster than
    ``isfinite(a).all()``); a sum that is not finite (NaN/inf present, or an overflow) is checked exactly."""
    floating = np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.complexfloating)
    if not floating or array.size == 0:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(array, axis=None)):
            return True
    return bool(np.isfinite(array).all())


def _write_packed(
    path: Path, members: Sequence[np.ndarray], dtype: np.dtype[Any], progress: Callable[[int], Any] | None
) -> tuple[_WrittenFile, list[bool]]:
    """Write ``members`` back to back as one flat ``.npy`` file: one file create for many small arrays,
    finiteness recorded per member."""
    total = sum(int(np.prod(np.shape(m), dtype=np.int64)) for m in members)
    step = max(1, CHUNK_BYTES // dtype.itemsize)

    def chunks() -> Iterator[tuple[np.ndarray, int | None]]:
        for index, member in enumerate(members):
            flat = np.ascontiguousarray(member, dtype=dtype).reshape(-1)
            for start in range(0, max(1, flat.size), step):
                yield flat[start : start + step], index

    check = _write_chunks(path, (total,), dtype, chunks(), progress)
    finite = [index not in check.nonfinite_members for index in range(len(members))]
    return _WrittenFile((total,), dtype, check.digest_hex, check.finite), finite
