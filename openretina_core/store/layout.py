"""Prepared entries on disk: their layout, key, integrity checks, and how they are opened and cleaned.

Layout (one folder per entry, inside the dataset's cache folder)::

    <cache>/<dataset>/.openretina/prepared/<session>/<key>/<array>.npy   read-only files
    <cache>/<dataset>/.openretina/prepared/<session>/<key>/meta.json     format, key, stamps, digests, metadata
    <cache>/<dataset>/.openretina/prepared/<session>/<key>.<pid>-<id>.part/   an entry being written

The key is a hash of the plugin's parameters, the identity (path, size, mtime) of every source file and the
plugin's and the store's format versions, so a changed parameter or a touched source never returns stale
arrays. An entry is written into its ``.part`` folder (blocks reserved first, so a full disk is an error and not
a bus fault), hashed, and renamed into place in one step: a reader sees a whole entry or none. Preparers of the
same entry take a lock; the others wait and then map what the first one wrote. Opening checks each file's stamp
(size, mtime) against ``meta.json``, so a file changed behind our back is detected without reading it;
:func:`verify_entry` re-hashes. Arrays are mapped copy-on-write: loading reads nothing, pages come from the
page cache (one copy per node however many processes map them), and a caller's writes never reach the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import define, field

from openretina_core.files.cache import META_DIR, dataset_cache_dir, read_json
from openretina_core.registry.errors import DataIntegrityError, OpenRetinaDataError

logger = logging.getLogger(__name__)

STORE_FORMAT = 2  # 2: movies may be stored compact (published dtype plus a map to float32)
STORE_DIR = "prepared"
META_NAME = "meta.json"
CHUNK_BYTES = 64 << 20
ORPHAN_AGE_S = 24 * 3600.0
BUNDLE_META = "bundle"  # user metadata of an entry holding many sessions (``store/bundles.py``)


class StoreWriteError(OpenRetinaDataError, OSError):
    """The store's folder cannot be written (read-only, permissions, a file in the way)."""


class StoreIntegrityError(DataIntegrityError):
    """A prepared file differs from what was recorded when it was written (changed, truncated, replaced)."""


class PreparedArray(np.ndarray):
    """A view of a prepared file. ``verified_finite`` records that the values were checked once, when the entry
    was written, so containers and the NaN policy need not scan a mapped array again (views keep the flag;
    results of arithmetic are plain arrays)."""

    verified_finite: bool

    def __array_finalize__(self, obj: Any) -> None:
        self.verified_finite = bool(getattr(obj, "verified_finite", False))

    def __array_wrap__(self, array: Any, context: Any = None, return_scalar: bool = False) -> Any:
        plain = np.asarray(array)
        return plain[()] if return_scalar else plain


def store_root(dataset_id: str) -> Path:
    """``<cache>/<dataset>/.openretina/prepared``."""
    return dataset_cache_dir(dataset_id) / META_DIR / STORE_DIR


def source_identity(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Path, size and modification time of each source file (what the key covers: a touched file is new)."""
    identity = []
    for path in paths:
        resolved = Path(path).resolve()
        stat = resolved.stat()
        identity.append({"path": str(resolved), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    return identity


def entry_key(params: Mapping[str, Any], sources: Sequence[Mapping[str, Any]], version: str | int) -> str:
    blob = json.dumps(
        {"store": STORE_FORMAT, "version": version, "params": params, "sources": list(sources)},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def check_name(kind: str, name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.endswith(".part"):
        raise ValueError(f"{kind} {name!r} is not a plain file name")
    return name


@define
class PreparedEntry:
    """A complete entry: its folder, its metadata and its arrays (mapped copy-on-write). ``folder`` is None for
    an entry that could not be written and lives in memory only (see ``prepare_entry``)."""

    folder: Path | None
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(factory=dict)

    @property
    def in_memory(self) -> bool:
        return self.folder is None

    @property
    def user_meta(self) -> dict[str, Any]:
        """What the plugin recorded with the arrays (statistics, session metadata, ...)."""
        return dict(self.meta.get("user", {}))

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.arrays:
            raise KeyError(f"{self.folder}: no prepared array {name!r}; arrays are {sorted(self.arrays)}")
        return self.arrays[name]

    @property
    def nbytes(self) -> int:
        return sum(int(array.nbytes) for array in self.arrays.values())


def digest_file(path: Path, progress: Callable[[int], Any]) -> tuple[str, bool]:
    """sha256 of a ``.npy`` file's data bytes and whether its values are all finite, read with plain reads in
    bounded chunks (nothing mapped, so checking a 20 GB entry keeps the process small)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        _, _, dtype = read_header(handle)
        floating = np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.complexfloating)
        finite = True
        # No bigger than the data: a 64 MB buffer zero-filled per small file cost seconds per entry.
        data_bytes = os.fstat(handle.fileno()).st_size - handle.tell()
        wanted = min(CHUNK_BYTES, max(data_bytes, dtype.itemsize))
        buffer = bytearray(max(dtype.itemsize, wanted // dtype.itemsize * dtype.itemsize))
        view = memoryview(buffer)
        while count := handle.readinto(buffer):
            digest.update(view[:count])
            if (
                floating
                and finite
                and not np.isfinite(np.frombuffer(buffer, dtype, count // dtype.itemsize)).all()
            ):
                finite = False
            progress(count)
    return digest.hexdigest(), finite


def bundle_sessions(meta: Mapping[str, Any] | None) -> list[str]:
    """The sessions a bundled entry holds (from its ``meta.json``); empty for a one-session entry."""
    user = meta.get("user") if isinstance(meta, Mapping) else None
    bundle = user.get(BUNDLE_META) if isinstance(user, Mapping) else None
    return sorted(bundle) if isinstance(bundle, Mapping) else []


def read_entry_meta(folder: Path, key: str | None = None) -> dict[str, Any] | None:
    """The entry's metadata when it is a complete entry of this store format (and of ``key``, if given)."""
    meta = read_json(folder / META_NAME)
    if (
        not isinstance(meta, dict)
        or meta.get("store") != STORE_FORMAT
        or not isinstance(meta.get("arrays"), dict)
    ):
        return None
    if key is not None and meta.get("key") != key:
        return None
    return meta


def open_entry(folder: Path, meta: Mapping[str, Any] | None = None) -> PreparedEntry:
    """Map a complete entry's arrays, after checking each file's stamp and header against ``meta.json``.

    Raises :class:`StoreIntegrityError` naming the file when one was changed, truncated or replaced."""
    meta = dict(meta) if meta is not None else read_entry_meta(folder)
    if meta is None:
        raise StoreIntegrityError(f"{folder}: not a complete prepared entry (no valid {META_NAME})")
    arrays: dict[str, np.ndarray] = {}
    for name, spec in meta["arrays"].items():
        path = folder / f"{name}.npy"
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise StoreIntegrityError(
                f"{path}: prepared file is missing; prepare the dataset again"
            ) from None
        if stat.st_size != spec["size"] or stat.st_mtime_ns != spec["mtime_ns"]:
            raise StoreIntegrityError(
                f"{path}: changed since it was prepared ({stat.st_size} bytes, recorded {spec['size']}); "
                f"it is rebuilt on the next load, or run `openretina-data cache clean` for this dataset"
            )
        mapped = np.load(path, mmap_mode="c", allow_pickle=False)
        if list(mapped.shape) != list(spec["shape"]) or mapped.dtype.str != spec["dtype"]:
            raise StoreIntegrityError(
                f"{path}: holds {mapped.dtype} {mapped.shape}, recorded {spec['dtype']} {tuple(spec['shape'])}"
            )
        view = np.asarray(mapped).view(PreparedArray)  # its base chain keeps the mapping alive
        view.verified_finite = bool(spec.get("finite"))
        arrays[name] = view
    return PreparedEntry(folder=folder, meta=meta, arrays=arrays)


def verify_entry(folder: Path) -> list[str]:
    """Problems of one entry (empty when every file matches its recorded sha256); reads every byte."""
    meta = read_entry_meta(folder)
    if meta is None:
        return [f"{folder}: no valid {META_NAME}"]
    problems = []
    for name, spec in meta["arrays"].items():
        path = folder / f"{name}.npy"
        try:
            digest, _ = digest_file(path, lambda n: None)
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: unreadable ({exc})")
            continue
        if digest != spec["sha256"]:
            problems.append(f"{path}: sha256 {digest} differs from the recorded {spec['sha256']}")
    held = bundle_sessions(meta)
    if problems and held:
        problems.append(
            f"the entry bundles {len(held)} sessions ({_few(held)}): all of them are prepared again on the next load"
        )
    return problems


def _few(names: Sequence[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def discard_entry(folder: Path) -> None:
    """Move an entry aside, then delete it (processes that map its files keep them until they unmap)."""
    trash = folder.with_name(f"{folder.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")
    try:
        os.replace(folder, trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


@define
class EntryUsage:
    """One prepared entry on disk."""

    dataset_id: str
    session: str
    key: str
    path: Path
    bytes: int
    complete: bool
    sessions: tuple[str, ...] = ()  # for a bundled entry: the sessions it holds (``session`` is its name)


def list_entries(dataset_id: str) -> list[EntryUsage]:
    """Every prepared entry (and interrupted preparation) of a dataset."""
    root = store_root(dataset_id)
    found = []
    for folder in sorted(root.glob("*/*")) if root.is_dir() else []:
        if not folder.is_dir():
            continue
        size = sum(p.stat().st_size for p in _files(folder))
        meta = None if folder.name.endswith(".part") else read_entry_meta(folder)
        held = tuple(bundle_sessions(meta))
        found.append(
            EntryUsage(dataset_id, folder.parent.name, folder.name, folder, size, meta is not None, held)
        )
    return found


def _files(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if p.is_file())


def clean_entries(dataset_id: str, session: str | None = None, key: str | None = None) -> int:
    """Delete a dataset's prepared entries (all, one session's, or one entry by key prefix); bytes freed. A
    session held in a bundled entry is cleaned with its whole bundle (its arrays are packed with the others')."""
    freed = 0
    for usage in list_entries(dataset_id):
        if session is not None and usage.session != session and session not in usage.sessions:
            continue
        if key is not None and not usage.key.startswith(key):
            continue
        freed += usage.bytes
        if usage.complete:
            discard_entry(usage.path)
        else:
            shutil.rmtree(usage.path, ignore_errors=True)
    return freed
