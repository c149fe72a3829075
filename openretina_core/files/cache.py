"""The download cache: where it is, what it records about each file, and how it is inspected and cleaned.

Layout::

    <cache>/<dataset id>/<relative path as published>           the files (archives extracted beside them)
    <cache>/<dataset id>/.openretina/records/<relative path>.json  hash + stamp of each file
    <cache>/<dataset id>/.openretina/locks/<relative path>.lock    per-file locks (bandwidth only)
    <cache>/<dataset id>/.openretina/partial/...                  downloads and extractions in progress

A record holds the file's sha256 (declared by the plugin, published by the host, or recorded at the first
verified download: trust on first use) and a stamp (size, mtime) so a later load trusts an unchanged file
without re-hashing it. ``verify`` re-hashes on demand.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from attrs import asdict, define

from openretina_core.files.hosts import check_relative_path
from openretina_core.files.progress import byte_bar
from openretina_core.registry.specs import RemoteFile

logger = logging.getLogger(__name__)

CACHE_ENV = "OPENRETINA_CACHE_DIR"
META_DIR = ".openretina"
EXTRACT_MARKER = ".openretina-extracted.json"  # inside each extracted folder (see archives.py)
HASH_CHUNK = 1 << 20


def cache_root() -> Path:
    """The cache directory: ``$OPENRETINA_CACHE_DIR`` or the platform's user cache folder."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("openretina"))


def check_dataset_id(dataset_id: str) -> str:
    """A dataset id usable as one folder name."""
    if not dataset_id or dataset_id in (".", "..") or "/" in dataset_id or "\\" in dataset_id:
        raise ValueError(f"dataset id {dataset_id!r} is not a plain folder name")
    return dataset_id


def dataset_cache_dir(dataset_id: str) -> Path:
    """``<cache>/<dataset id>``."""
    return cache_root() / check_dataset_id(dataset_id)


def meta_path(root: Path, kind: str, relative_path: str, suffix: str) -> Path:
    """``<root>/.openretina/<kind>/<relative path><suffix>``."""
    return root / META_DIR / kind / (str(check_relative_path(relative_path)) + suffix)


def partial_dir(root: Path) -> Path:
    return root / META_DIR / "partial"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a unique temporary name, then rename it into place (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or ``None`` when missing or unreadable (then it is simply rebuilt)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable cache record %s: %s", path, exc)
        return None


@define
class FileRecord:
    """What the cache knows about one file: its hash, where the hash came from, and the stamp it had."""

    relative_path: str
    sha256: str
    size: int
    mtime_ns: int | None  # None: the stamp is invalid, the next load re-hashes
    source: str  # "declared", "host", "first-download" or "existing-file"
    url: str | None = None
    recorded_at: float = 0.0

    def matches(self, stat: os.stat_result) -> bool:
        return self.mtime_ns is not None and self.size == stat.st_size and self.mtime_ns == stat.st_mtime_ns


def record_path(root: Path, relative_path: str) -> Path:
    return meta_path(root, "records", relative_path, ".json")


def read_record(root: Path, relative_path: str) -> FileRecord | None:
    data = read_json(record_path(root, relative_path))
    if not isinstance(data, dict):
        return None
    try:
        return FileRecord(**data)
    except TypeError as exc:
        logger.warning("ignoring malformed record for %s: %s", relative_path, exc)
        return None


def write_record(root: Path, record: FileRecord) -> None:
    """Store ``record`` atomically; a read-only cache only loses the stamp (the file is re-hashed later)."""
    record.recorded_at = record.recorded_at or time.time()
    try:
        write_json_atomic(record_path(root, record.relative_path), asdict(record))
    except OSError as exc:
        logger.warning(
            "could not write cache record for %s (%s); it will be re-hashed", record.relative_path, exc
        )


def stamp_record(
    root: Path, path: Path, relative_path: str, sha256: str, source: str, url: str | None
) -> None:
    """Record ``sha256`` for ``path`` with its current stamp."""
    stat = path.stat()
    write_record(root, FileRecord(relative_path, sha256, stat.st_size, stat.st_mtime_ns, source, url))


def hash_file(path: Path, desc: str | None = None) -> str:
    """sha256 of a file, read in blocks, with a progress bar for big files."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as handle, byte_bar(desc or f"hashing {path.name}", total=size) as bar:
        while block := handle.read(HASH_CHUNK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


@define
class FileState:
    """The result of checking one cached file against what is known about it."""

    status: Literal["ok", "missing", "corrupt", "unverified"]
    path: Path
    relative_path: str
    expected: str | None = None
    actual: str | None = None
    reason: str = ""


def check_file(
    root: Path, remote: RemoteFile, *, rehash: bool = False, record_unknown: bool = True
) -> FileState:
    """Is the cached copy of ``remote`` present and equal to its known hash?

    An unchanged stamp is trusted without re-hashing (unless ``rehash``). A file with no known hash is hashed
    and recorded (trust on first use) when ``record_unknown``; otherwise it is reported ``unverified``.
    """
    rel = remote.relative_path
    path = root / check_relative_path(rel)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return FileState("missing", path, rel)
    if not path.is_file():
        return FileState("corrupt", path, rel, reason="not a regular file")
    record = read_record(root, rel)
    declared = remote.sha256.lower() if remote.sha256 else None
    expected = declared or (record.sha256 if record else None)
    if remote.size is not None and stat.st_size != remote.size:
        return FileState(
            "corrupt", path, rel, expected, reason=f"size {stat.st_size} bytes, expected {remote.size} bytes"
        )
    if not rehash and record is not None and record.matches(stat) and record.sha256 == expected:
        return FileState("ok", path, rel, expected, expected)
    actual = hash_file(path, desc=f"verifying {rel}")
    if expected is None:
        if not record_unknown:
            return FileState("unverified", path, rel, None, actual, reason="no known hash")
        logger.warning(
            "%s has no published hash and was not downloaded by openretina; recording sha256 %s "
            "(trust on first use): later loads verify against it",
            path,
            actual,
        )
        stamp_record(root, path, rel, actual, "existing-file", None)
        return FileState("ok", path, rel, actual, actual)
    if actual != expected:
        return FileState("corrupt", path, rel, expected, actual, reason="sha256 differs")
    source = "declared" if declared else (record.source if record else "first-download")
    stamp_record(root, path, rel, actual, source, record.url if record else None)
    return FileState("ok", path, rel, expected, actual)


def invalidate_stamp(root: Path, relative_path: str) -> None:
    """Keep the recorded hash but force the next load to re-hash (after ``verify`` found a problem)."""
    record = read_record(root, relative_path)
    if record is not None and record.mtime_ns is not None:
        record.mtime_ns = None
        write_record(root, record)


# --- inspection and cleaning -------------------------------------------------------------------------------


@define
class DatasetUsage:
    """Disk use of one cached dataset."""

    dataset_id: str
    path: Path
    files: int
    bytes: int
    partial_bytes: int


def _walk_files(folder: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != META_DIR or Path(dirpath) != folder]
        for name in filenames:
            if name != EXTRACT_MARKER:
                yield Path(dirpath) / name


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def cached_files(root: Path) -> list[tuple[str, int]]:
    """(relative path, bytes) of every data file under a dataset folder, metadata excluded."""
    return sorted((p.relative_to(root).as_posix(), _size(p)) for p in _walk_files(root))


def dataset_usage(root: Path) -> DatasetUsage:
    files = cached_files(root)
    partial = sum(_size(p) for p in _walk_files(partial_dir(root))) if partial_dir(root).exists() else 0
    return DatasetUsage(root.name, root, len(files), sum(size for _, size in files), partial)


def list_cached(base: Path | None = None) -> list[DatasetUsage]:
    """Usage of every dataset folder in the cache."""
    base = base if base is not None else cache_root()
    if not base.is_dir():
        return []
    return [dataset_usage(child) for child in sorted(base.iterdir()) if child.is_dir()]


def clean_dataset(dataset_id: str, base: Path | None = None) -> int:
    """Delete a dataset's whole cache folder; returns the bytes freed."""
    base = base if base is not None else cache_root()
    root = base / check_dataset_id(dataset_id)
    if not root.is_dir():
        cached = ", ".join(u.dataset_id for u in list_cached(base)) or "(nothing)"
        raise FileNotFoundError(f"dataset {dataset_id!r} is not in the cache {base}; cached: {cached}")
    usage = dataset_usage(root)
    shutil.rmtree(root)
    return usage.bytes + usage.partial_bytes


def clean_partials(dataset_id: str | None = None, base: Path | None = None) -> int:
    """Delete leftover partial downloads/extractions (of one dataset, or all); returns the bytes freed."""
    base = base if base is not None else cache_root()
    roots = [base / check_dataset_id(dataset_id)] if dataset_id else [u.path for u in list_cached(base)]
    freed = 0
    for root in roots:
        folder = partial_dir(root)
        if folder.exists():
            freed += sum(_size(p) for p in _walk_files(folder))
            shutil.rmtree(folder, ignore_errors=True)
    return freed
