"""Writing prepared entries: once, atomically, under a lock; interrupted preparations are swept.

A new entry is written into its ``.part`` folder (blocks reserved first, so a full disk is an error and not a
bus fault), hashed and checked for finite values in one read, and renamed into place in one step, so a reader
sees a whole entry or none. Preparers of the same entry take a lock; the others wait and then map it.
"""

from __future__ import annotations

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

from openretina_core.files.cache import META_DIR, dataset_cache_dir
from openretina_core.files.locks import file_lock
from openretina_core.store.layout import (
    META_NAME,
    ORPHAN_AGE_S,
    STORE_DIR,
    STORE_FORMAT,
    PreparedEntry,
    StoreIntegrityError,
    StoreWriteError,
    check_name,
    discard_entry,
    entry_key,
    open_entry,
    read_entry_meta,
    source_identity,
)
from openretina_core.store.writer import EntryWriter

logger = logging.getLogger(__name__)


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
    writer: EntryWriter | None = None
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
        if writer is not None:
            writer.close()
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
