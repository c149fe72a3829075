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
