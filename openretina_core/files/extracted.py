"""Extracted folders: their completion marker, and whether every extracted file is still what was unpacked.

The marker (written last by ``extract_archive``) lists each file's size, the sha256 computed while it was
unpacked, and its stamp (mtime). A load checks sizes and stamps (nothing read); ``verify`` re-hashes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from openretina_core.files.cache import EXTRACT_MARKER, read_json

MARKER = EXTRACT_MARKER
_CHUNK = 1 << 20


def read_marker(folder: Path) -> dict[str, Any] | None:
    data = read_json(folder / MARKER)
    return data if isinstance(data, dict) else None


def is_extracted(folder: Path, archive_sha256: str | None) -> bool:
    """Whether ``folder`` is a complete extraction (of the archive with this hash, when given)."""
    marker = read_marker(folder)
    if marker is None:
        return False
    return archive_sha256 is None or marker.get("archive_sha256") == archive_sha256


def intact(folder: Path, archive_sha256: str | None) -> bool:
    """Complete, from this archive, and every listed file unchanged (by its stamp)."""
    return is_extracted(folder, archive_sha256) and not check_extracted(folder)


def check_extracted(folder: Path, rehash: bool = False) -> list[str]:
    """Problems with an extracted folder: missing marker; listed files missing, of the wrong size, or changed
    since extraction (their stamp; with ``rehash``, their sha256 against the one recorded while extracting)."""
    marker = read_marker(folder)
    if marker is None:
        return [f"{folder} has no completion marker (extraction incomplete)"]
    problems = []
    for name, record in marker.get("files", {}).items():
        record = record if isinstance(record, dict) else {"size": record}  # markers of older versions
        path = folder / name
        try:
            stat = path.lstat()
        except FileNotFoundError:
            problems.append(f"{path} is missing")
            continue
        if path.is_symlink():
            continue
        if stat.st_size != record["size"]:
            problems.append(f"{path} has {stat.st_size} bytes, expected {record['size']}")
        elif rehash and "sha256" in record:
            if file_sha256(path) != record["sha256"]:
                problems.append(f"{path} differs from the extracted file (sha256)")
        elif not rehash and "mtime_ns" in record and stat.st_mtime_ns != record["mtime_ns"]:
            problems.append(f"{path} was modified after extraction")
    return problems


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def record_extracted(folder: Path, files: dict[str, str], **extra: Any) -> None:
    """Write the marker for files unpacked into ``folder`` by other means than ``extract_archive`` (one zip
    member a plugin copies out): ``files`` maps each name to the sha256 computed while it was written; sizes
    and stamps are taken now. Write it last: a folder without it is never taken as complete."""
    from openretina_core.files.cache import write_json_atomic

    records = {}
    for name, sha256 in files.items():
        stat = (folder / name).stat()
        records[name] = {"size": stat.st_size, "sha256": sha256, "mtime_ns": stat.st_mtime_ns}
    write_json_atomic(folder / MARKER, {**extra, "files": records})


def intact_files(folder: Path, names: list[str]) -> bool:
    """Whether ``folder``'s marker lists every one of ``names`` and none changed since (stamps, nothing read)."""
    marker = read_marker(folder)
    listed = marker.get("files", {}) if marker is not None else {}
    return marker is not None and all(name in listed for name in names) and not check_extracted(folder)


def drop_record(folder: Path) -> None:
    """Remove ``folder``'s marker before its files are rewritten (a half-rewritten folder is never complete)."""
    (folder / MARKER).unlink(missing_ok=True)


def marked_folders(root: Path) -> list[Path]:
    """Every folder under ``root`` holding an extraction marker (downloaded archives, and the members plugins
    copy out of a user's zips), for ``verify`` to re-hash."""
    import os

    found = []
    for dirpath, _, filenames in os.walk(root):
        if MARKER in filenames:
            found.append(Path(dirpath))
    return sorted(found)
