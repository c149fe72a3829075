"""Writing one prepared entry's arrays into its ``.part`` folder: through plain file writes (``put``) or a
writable mapping (``allocate``), with blocks reserved first so a full disk is an error and not a bus fault,
and an in-memory fallback when the store cannot be written.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from attrs import define

from openretina_core.files.fetch import disk_space_error
from openretina_core.files.progress import byte_bar
from openretina_core.store.chunk_check import ChunkCheck, all_finite
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
        self._filling: dict[str, tuple[ChunkCheck, int]] = {}  # mapped array -> its check, rows checked
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

    def filled(self, name: str, rows: int) -> None:
        """Rows ``[0, rows)`` of the mapped array ``name`` (from :meth:`allocate`) are final: they are hashed
        and checked now, in a helper thread, while their pages are hot and the caller fills the next rows,
        instead of in one more pass over the array when the entry is committed (for ten generic-HDF5 sessions
        that pass was ~0.2 s of a 0.7 s first load). Declare rows in order and do not write them again."""
        array = self._arrays.get(name)
        if not isinstance(array, np.memmap) or array.ndim == 0:
            return  # in memory, or written through its file: nothing is read again at the commit anyway
        check, done = self._filling.get(name) or (ChunkCheck(array.dtype), 0)
        rows = min(int(rows), array.shape[0])
        row_bytes = max(1, array.nbytes // max(1, array.shape[0]))
        step = max(1, CHUNK_BYTES // row_bytes)
        for start in range(done, rows, step):
            check.add(np.asarray(array[start : min(rows, start + step)]).reshape(-1))
        self._filling[name] = (check, max(done, rows))

    def close(self) -> None:
        """Stop the checks of :meth:`filled` (an entry that is discarded)."""
        for check, _ in self._filling.values():
            check.close()
        self._filling.clear()

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
        return [all_finite(m) for m in flat]

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
            if isinstance(array, np.memmap) and name in self._filling:  # the rows not declared filled yet
                self.filled(name, array.shape[0])
                check = self._filling.pop(name)[0]
                try:
                    checked[name] = (check.finish(), check.finite)
                finally:
                    check.close()
            elif isinstance(array, np.memmap):  # hashed where it lies: the mapping's pages are the file's
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


def _write_chunks(
    path: Path,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    chunks: Iterable[tuple[np.ndarray, int | None]],
    progress: Callable[[int], Any] | None,
    stable: bool = True,
) -> ChunkCheck:
    """Write a ``.npy`` file of ``shape`` from ``chunks`` (C-ordered pieces in ``dtype``, each with its packed
    member or None) with plain writes, blocks reserved first, hashing and checking each chunk as it is written.
    With ``stable`` False a chunk may be overwritten once the next one is taken (a source that reuses its
    buffers, e.g. ``StreamedFrames``): each chunk's check then ends before the next chunk is taken (the hash of
    a chunk still overlaps its write). A full disk is a clear error naming the folder."""
    nbytes = _WrittenFile(shape, dtype).nbytes
    check = ChunkCheck(dtype)
    try:
        with open(path, "wb") as handle:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_2_0(handle, header)
            if hasattr(os, "posix_fallocate") and nbytes:
                os.posix_fallocate(handle.fileno(), 0, handle.tell() + nbytes)
            for chunk, member in chunks:
                if stable:
                    handle.write(chunk.data)
                    check.add(chunk, member)
                else:
                    check.add_now(chunk, member, partial(handle.write, chunk.data))
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
    # slices of an array stay as they are; another source may hand out one buffer again and again
    stable = isinstance(source, np.ndarray)
    check = _write_chunks(path, shape, dtype, chunks, progress, stable)
    return _WrittenFile(shape, dtype, check.digest_hex, check.finite)


def _check_mapped(array: np.memmap) -> tuple[str, bool]:
    """sha256 of a mapped array's data bytes and whether its values are all finite, from the mapping itself.
    Its pages are the file's pages in the page cache, so a reader of the renamed file sees them without a flush
    (``msync`` only forces them to disk, as nothing else in the store does) and nothing is read back: for ten
    generic-HDF5 sessions the flush and the read-back were 0.44 s of a 1.2 s first load."""
    flat = array.reshape(-1)
    check = ChunkCheck(array.dtype)
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
