"""Writing prepared entries: once, atomically, under a lock; interrupted preparations are swept.

A new entry is written into its ``.part`` folder (blocks reserved first, so a full disk is an error and not a
bus fault), hashed and checked for finite values in one read, and renamed into place in one step, so a reader
sees a whole entry or none. Preparers of the same entry take a lock; the others wait and then map it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
from attrs import define

from openretina_core.files.cache import META_DIR, dataset_cache_dir
from openretina_core.files.fetch import disk_space_error
from openretina_core.files.locks import file_lock
from openretina_core.files.progress import byte_bar
from openretina_core.store.layout import (
    CHUNK_BYTES,
    META_NAME,
    ORPHAN_AGE_S,
    STORE_DIR,
    STORE_FORMAT,
    PreparedEntry,
    StoreIntegrityError,
    StoreWriteError,
    check_name,
    digest_file,
    discard_entry,
    entry_key,
    open_entry,
    read_entry_meta,
    source_identity,
)

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

    def _finish(self) -> tuple[dict[str, Any], int]:
        """Flush, hash, check finiteness and stamp every array; make the files read-only."""
        assert self.folder is not None
        specs: dict[str, Any] = {}
        total = sum(int(a.nbytes) for a in self._arrays.values())
        layouts = {name: (tuple(a.shape), a.dtype) for name, a in self._arrays.items()}
        for array in self._arrays.values():
            if isinstance(array, np.memmap):
                array.flush()
        self._arrays.clear()  # drop the writable mappings: the check below reads the files
        with byte_bar(f"checking {self.folder.name[:24]}", total=total) as bar:
            for name, (shape, dtype) in layouts.items():
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

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _write_file(
    path: Path, source: Any, dtype: np.dtype[Any], progress: Callable[[int], Any] | None
) -> _WrittenFile:
    """Write ``source`` as a ``.npy`` file with plain writes in bounded chunks (blocks reserved first)."""
    shape = tuple(int(s) for s in source.shape)
    layout = _WrittenFile(shape, dtype)
    row_bytes = max(1, layout.nbytes // max(1, shape[0]))
    step = max(1, CHUNK_BYTES // row_bytes)
    try:
        with open(path, "wb") as handle:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_2_0(handle, header)
            if hasattr(os, "posix_fallocate") and layout.nbytes:
                os.posix_fallocate(handle.fileno(), 0, handle.tell() + layout.nbytes)
            for start in range(0, shape[0], step):
                chunk = np.ascontiguousarray(source[start : start + step], dtype=dtype)
                handle.write(chunk.data)
                if progress is not None:
                    progress(chunk.nbytes)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise disk_space_error(path.parent, layout.nbytes, exc) from exc
        raise StoreWriteError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    return layout


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphans(session_dir: Path) -> int:
    """Remove ``.part`` folders of preparations whose process is gone (or that are a day old); bytes freed."""
    freed = 0
    if not session_dir.is_dir():
        return freed
    for part in session_dir.glob("*.part"):
        try:
            pid = int(part.name.rsplit(".", 2)[-2].split("-")[0])
        except (IndexError, ValueError):
            pid = -1
        age = time.time() - part.stat().st_mtime
        if pid == os.getpid() or (pid > 0 and _pid_alive(pid) and age < ORPHAN_AGE_S):
            continue
        freed += sum(p.stat().st_size for p in part.rglob("*") if p.is_file())
        shutil.rmtree(part, ignore_errors=True)
        logger.info("removed an interrupted preparation %s", part)
    return freed


def _progress_signature(session_dir: Path) -> tuple[int, int]:
    """Files and modification times of the preparations in progress (they change while one runs): what a
    waiting process watches to tell a slow preparer from a dead one."""
    count = stamp = 0
    for part in session_dir.glob("*.part"):
        for path in part.rglob("*"):
            try:
                stamp += path.stat().st_mtime_ns
                count += 1
            except OSError:
                continue
    return count, stamp


_STRICT: ContextVar[bool] = ContextVar("openretina_store_strict", default=False)


@contextmanager
def strict_preparation() -> Iterator[None]:
    """Inside this block a store that cannot be written is an error, not a fallback to memory (``prepare``)."""
    token = _STRICT.set(True)
    try:
        yield
    finally:
        _STRICT.reset(token)


def prepare_entry(
    dataset_id: str,
    session: str,
    *,
    params: Mapping[str, Any],
    sources: Sequence[str | os.PathLike[str]],
    build: Callable[[EntryWriter], None],
    version: str | int = 1,
    dataset_root: str | os.PathLike[str] | None = None,
    memory_fallback: bool | None = None,
) -> PreparedEntry:
    """The prepared entry for these parameters and source files: opened when it exists, else built once.

    ``build(writer)`` writes the arrays (``writer.put``/``writer.allocate``) and may fill ``writer.user_meta``
    (JSON). Concurrent callers for the same entry wait for the first and map what it wrote. A damaged entry is
    discarded and rebuilt, never served. A failed or interrupted build leaves no entry. ``dataset_root``: the
    dataset's cache folder (default ``<cache>/<dataset>``). When the store cannot be written (read-only, full
    disk) the entry is built in memory with a warning, unless ``memory_fallback=False`` or inside
    :func:`strict_preparation` (then the error is raised and any previous entry stays as it was).
    """
    fallback = (not _STRICT.get()) if memory_fallback is None else memory_fallback
    root = Path(dataset_root) if dataset_root is not None else dataset_cache_dir(dataset_id)
    key = entry_key(params, source_identity(sources), version)
    folder = root / META_DIR / STORE_DIR / check_name("session", session) / key[:32]
    entry = _open_if_complete(folder, key)
    if entry is not None:
        return entry
    session_dir = folder.parent
    try:
        session_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        error = StoreWriteError(
            exc.errno, f"cannot create the prepared store {session_dir}: {exc.strerror or exc}"
        )
        if not fallback:
            raise error from exc
        logger.warning("%s; %s is kept in memory", error, session)
        writer = EntryWriter(None)
        build(writer)
        return _memory_entry(writer.in_memory_arrays(), key, writer.user_meta)
    sweep_orphans(session_dir)
    lock_name = f"{STORE_DIR}/{session}/{key[:32]}"
    with file_lock(root, lock_name, ".lock", lambda: _progress_signature(session_dir)):
        entry = _open_if_complete(folder, key)  # written while we waited
        if entry is not None:
            return entry
        memory = _write_entry(folder, key, params, sources, build, version, fallback)
    if memory is not None:
        return memory
    entry = _open_if_complete(folder, key)
    if entry is None:
        raise StoreIntegrityError(f"{folder}: the entry just prepared cannot be opened")
    return entry


def _memory_entry(arrays: dict[str, np.ndarray], key: str, user_meta: dict[str, Any]) -> PreparedEntry:
    return PreparedEntry(folder=None, meta={"key": key, "user": user_meta, "arrays": {}}, arrays=arrays)


def _open_if_complete(folder: Path, key: str) -> PreparedEntry | None:
    meta = read_entry_meta(folder, key)
    if meta is None:
        if folder.exists():  # an incomplete or foreign folder under a final name: never served
            logger.warning("discarding %s: not a complete prepared entry", folder)
            discard_entry(folder)
        return None
    try:
        return open_entry(folder, meta)
    except StoreIntegrityError as exc:
        logger.warning("%s; rebuilding the entry", exc)
        discard_entry(folder)
        return None


def _write_entry(
    folder: Path,
    key: str,
    params: Mapping[str, Any],
    sources: Sequence[str | os.PathLike[str]],
    build: Callable[[EntryWriter], None],
    version: str | int,
    fallback: bool,
) -> PreparedEntry | None:
    """Build and commit the entry; an in-memory entry instead when the store cannot be written and
    ``fallback`` allows it (None when the entry was committed)."""
    part = folder.with_name(f"{folder.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")
    started = time.monotonic()
    try:
        writer = EntryWriter(part, memory_fallback=fallback)
        build(writer)
        if writer.in_memory:
            return _memory_entry(writer.in_memory_arrays(), key, writer.user_meta)
        specs, total = writer._finish()
        meta = {
            "store": STORE_FORMAT,
            "key": key,
            "version": version,
            "params": json.loads(json.dumps(params, default=str)),
            "sources": source_identity(sources),
            "arrays": specs,
            "user": writer.user_meta,
            "created": time.time(),
        }
        try:
            (part / META_NAME).write_text(json.dumps(meta, indent=1, sort_keys=True))
            os.rename(part, folder)  # atomic: the entry appears whole
        except OSError as exc:
            if read_entry_meta(folder, key) is not None:
                logger.info("%s was prepared meanwhile by another process; using it", folder)
                return None
            if not fallback:
                raise StoreWriteError(exc.errno, f"cannot commit {folder}: {exc.strerror or exc}") from exc
            logger.warning("cannot commit %s (%s); this entry is kept in memory", folder, exc)
            arrays = {name: np.load(part / f"{name}.npy", allow_pickle=False) for name in specs}
            return _memory_entry(arrays, key, writer.user_meta)
        logger.info("prepared %s (%.2f GB in %.1f s)", folder, total / 1e9, time.monotonic() - started)
        _remove_superseded(folder, meta)
        return None
    finally:
        if part.exists():
            shutil.rmtree(part, ignore_errors=True)


def _remove_superseded(folder: Path, meta: Mapping[str, Any]) -> None:
    """Drop the session's entries made with the same parameters from source files that have since changed
    (they can never be served again)."""
    paths = sorted(source["path"] for source in meta["sources"])
    for sibling in folder.parent.iterdir():
        if sibling == folder or sibling.name.endswith(".part") or not sibling.is_dir():
            continue
        other = read_entry_meta(sibling)
        if (
            other is not None
            and other.get("params") == meta["params"]
            and other.get("version") == meta["version"]
            and sorted(source["path"] for source in other.get("sources", [])) == paths
        ):
            logger.info("removing %s: its source files have changed", sibling)
            discard_entry(sibling)
