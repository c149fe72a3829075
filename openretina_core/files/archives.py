"""Safe, idempotent extraction of verified zip and tar archives.

An archive is unpacked into a temporary folder on the same filesystem, a completion marker (the
archive's sha256 and every extracted file with its size) is written inside it, and only then is the folder
renamed to its final name: a half-extracted folder never carries the marker and is never taken as done.
Members with absolute paths, ``..``, backslashes, device files, or links pointing outside the folder are
refused before anything is written, and the total size is capped against archive bombs
(``OPENRETINA_MAX_EXTRACT_BYTES``; by default 250 times the archive's size, at least 1 GiB). A single
top-level folder named like the target is not nested (``neural_code_data.zip`` holding
``neural_code_data/...`` gives ``neural_code_data/...``).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import posixpath
import shutil
import stat
import tarfile
import time
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from attrs import define

from openretina_core.files.cache import EXTRACT_MARKER, write_json_atomic
from openretina_core.files.extracted import intact
from openretina_core.files.fetch import disk_space_error
from openretina_core.files.progress import byte_bar
from openretina_core.registry.errors import BadArchiveError, OpenRetinaDataError

logger = logging.getLogger(__name__)

MARKER = EXTRACT_MARKER
MAX_BYTES_ENV = "OPENRETINA_MAX_EXTRACT_BYTES"
MAX_MEMBERS = 1_000_000
_COPY_CHUNK = 1 << 20


class UnsafeArchiveError(BadArchiveError):
    """An archive member would land outside the target folder, or the archive is too big to unpack.

    A ``BadArchiveError`` (so also a ``ValueError``) carrying the archive's ``path``.
    """


@define
class Member:
    """One archive entry after validation; ``name`` is relative to the target folder."""

    name: str
    kind: str  # "file", "dir", "symlink" or "hardlink"
    size: int
    link: str | None
    source: Any  # ZipInfo or TarInfo


def default_max_bytes(archive: Path) -> int:
    env = os.environ.get(MAX_BYTES_ENV, "").strip()
    if env:
        return int(float(env))
    return max(1 << 30, 250 * archive.stat().st_size)


def _clean_name(raw: str, archive: Path) -> str:
    name = raw.replace("\\", "/") if "\\" in raw else raw
    bad = (
        not name.strip("/")
        or "\x00" in name
        or name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
        or any(part == ".." for part in name.split("/"))
    )
    if bad:
        raise UnsafeArchiveError(archive, f"refusing member {raw!r} (absolute path or '..')")
    return posixpath.normpath(name)  # "." (the archive root itself) is skipped by the callers


def _check_link(name: str, target: str, archive: Path, *, hard: bool) -> str:
    if not target or target.startswith("/") or "\\" in target or (len(target) > 1 and target[1] == ":"):
        raise UnsafeArchiveError(archive, f"link {name!r} -> {target!r} points outside the archive")
    base = "" if hard else posixpath.dirname(name)
    resolved = posixpath.normpath(posixpath.join(base, target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchiveError(archive, f"link {name!r} -> {target!r} points outside the archive")
    return resolved if hard else target


def _zip_members(zf: zipfile.ZipFile, archive: Path) -> list[Member]:
    members = []
    for info in zf.infolist():
        name = _clean_name(info.filename, archive)
        if name == ".":
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            target = zf.read(info).decode("utf-8", "surrogateescape")
            members.append(Member(name, "symlink", 0, _check_link(name, target, archive, hard=False), info))
        elif info.is_dir():
            members.append(Member(name, "dir", 0, None, info))
        else:
            members.append(Member(name, "file", info.file_size, None, info))
    return members


def _tar_members(tf: tarfile.TarFile, archive: Path) -> list[Member]:
    members = []
    for info in tf.getmembers():
        name = _clean_name(info.name, archive)
        if name == ".":
            continue
        if info.issym():
            members.append(
                Member(name, "symlink", 0, _check_link(name, info.linkname, archive, hard=False), info)
            )
        elif info.islnk():
            target = _clean_name(info.linkname, archive)
            members.append(Member(name, "hardlink", 0, _check_link(name, target, archive, hard=True), info))
        elif info.isdir():
            members.append(Member(name, "dir", 0, None, info))
        elif info.isfile():
            members.append(Member(name, "file", info.size, None, info))
        else:
            raise UnsafeArchiveError(archive, f"refusing special member {info.name!r} (device or fifo)")
    return members


def _check_members(members: list[Member], archive: Path, max_bytes: int) -> None:
    if len(members) > MAX_MEMBERS:
        raise UnsafeArchiveError(archive, f"{len(members)} members, more than the limit {MAX_MEMBERS}")
    total = sum(m.size for m in members)
    if total > max_bytes:
        raise UnsafeArchiveError(
            archive,
            f"unpacks to {total} bytes, more than the limit {max_bytes} (archive bomb?); "
            f"raise {MAX_BYTES_ENV} if the archive is genuine",
        )
    links = {m.name for m in members if m.kind == "symlink"}
    for member in members:
        parts = member.name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in links:
                raise UnsafeArchiveError(archive, f"member {member.name!r} is written through a link")
    _check_names(members, archive)
    names = {m.name for m in members}
    for member in members:
        if member.kind == "hardlink" and member.link not in names:
            raise UnsafeArchiveError(archive, f"hard link {member.name!r} -> {member.link!r} has no target")


def _check_names(members: list[Member], archive: Path) -> None:
    """One member per name (the last would silently win; a repeated folder entry is harmless), and no name
    both a file (or link) and the folder of another member."""
    kinds: dict[str, list[str]] = {}
    for member in members:
        kinds.setdefault(member.name, []).append(member.kind)
    for name, seen in kinds.items():
        if len(seen) > 1 and set(seen) != {"dir"}:
            if "dir" in seen:
                raise BadArchiveError(
                    archive, f"{name!r} is both a file and a folder; expected one or the other"
                )
            raise BadArchiveError(
                archive, f"member {name!r} appears {len(seen)} times; expected unique names"
            )
    not_folders = {name for name, seen in kinds.items() if "dir" not in seen}
    for name in kinds:
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in not_folders:
                raise BadArchiveError(
                    archive,
                    f"{parent!r} is both a file and the folder of {name!r}; expected one or the other",
                )


def _strip_prefix(members: list[Member], folder_name: str) -> list[Member]:
    """Drop a single top-level folder named like the target so it is not nested twice."""
    tops = {m.name.split("/")[0] for m in members}
    if tops != {folder_name} or not any("/" in m.name for m in members):
        return members
    cut = len(folder_name) + 1
    out = []
    for m in members:
        if m.name == folder_name:
            continue
        link = m.link[cut:] if m.kind == "hardlink" and m.link else m.link
        out.append(Member(m.name[cut:], m.kind, m.size, link, m.source))
    return out


# What zipfile, tarfile and their decompressors raise for an archive whose headers or data lie.
_DAMAGED = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    zlib.error,
    EOFError,
    NotImplementedError,
)


@contextmanager
def _open_archive(archive: Path) -> Iterator[tuple[str, Any]]:
    """The open archive; damage found while opening or reading it is a ``BadArchiveError`` naming it."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                yield "zip", zf
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                yield "tar", tf
        else:
            raise BadArchiveError(archive, "neither a zip nor a tar archive")
    except OpenRetinaDataError:
        raise
    except _DAMAGED as exc:
        raise BadArchiveError(
            archive, f"damaged ({type(exc).__name__}: {exc}); delete it and download it again"
        ) from exc


def list_members(archive: Path, folder_name: str, max_bytes: int | None = None) -> list[Member]:
    """The validated members of ``archive`` as they will be laid out under ``folder_name``."""
    limit = max_bytes if max_bytes is not None else default_max_bytes(archive)
    with _open_archive(archive) as (kind, handle):
        members = _zip_members(handle, archive) if kind == "zip" else _tar_members(handle, archive)
    _check_members(members, archive, limit)
    return _strip_prefix(members, folder_name)


def _copy_limited(
    source: IO[bytes], dest: Path, budget: list[int], archive: Path, bar: Any, digest: Any = None
) -> int:
    written = 0
    try:
        with open(dest, "wb") as out:
            while block := source.read(_COPY_CHUNK):
                if digest is not None:
                    digest.update(block)
                budget[0] -= len(block)
                if budget[0] < 0:
                    raise UnsafeArchiveError(archive, "unpacks to more than the size limit (archive bomb?)")
                out.write(block)
                written += len(block)
                bar.update(len(block))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise disk_space_error(dest.parent, None, exc) from exc
        raise
    return written


def _unpack(
    archive: Path, kind: str, handle: Any, members: list[Member], tmp: Path, max_bytes: int
) -> dict[str, dict[str, Any]]:
    """Unpack the members; per file, its size and sha256 (hashed while copied)."""
    budget = [max_bytes]
    files: dict[str, dict[str, Any]] = {}
    total = sum(m.size for m in members)
    with byte_bar(f"extracting {archive.name}", total=total) as bar:
        for m in members:
            target = tmp / m.name
            if m.kind == "dir":
                target.mkdir(parents=True, exist_ok=True)
            elif m.kind == "file":
                target.parent.mkdir(parents=True, exist_ok=True)
                src = handle.open(m.source) if kind == "zip" else handle.extractfile(m.source)
                digest = hashlib.sha256()
                with src:
                    size = _copy_limited(src, target, budget, archive, bar, digest)
                files[m.name] = {"size": size, "sha256": digest.hexdigest()}
        for m in members:  # links last, so nothing is ever written through one
            target = tmp / m.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if m.kind == "hardlink":
                shutil.copyfile(tmp / str(m.link), target)
                files[m.name] = dict(files.get(str(m.link), {"size": target.stat().st_size}))
            elif m.kind == "symlink":
                os.symlink(str(m.link), target)
                real = os.path.realpath(target)
                if os.path.commonpath([real, os.path.realpath(tmp)]) != os.path.realpath(tmp):
                    raise UnsafeArchiveError(archive, f"link {m.name!r} resolves outside the archive")
                files[m.name] = {"size": 0, "symlink": True}
    for name, record in files.items():  # stamps, so a later load notices a changed file without reading it
        if not record.get("symlink"):
            stat = (tmp / name).stat()
            record["mtime_ns"] = stat.st_mtime_ns
    return files


def extract_archive(
    archive: Path,
    folder: Path,
    *,
    archive_sha256: str,
    work_dir: Path,
    max_bytes: int | None = None,
) -> Path:
    """Unpack a verified ``archive`` into ``folder`` (replacing an incomplete or outdated one) and return it.

    Idempotent: a complete, unchanged folder whose marker names the same archive hash is left alone; a folder
    with a missing or modified file is replaced by a fresh extraction.
    """
    if intact(folder, archive_sha256):
        return folder
    limit = max_bytes if max_bytes is not None else default_max_bytes(archive)
    members = list_members(archive, folder.name, limit)
    work_dir.mkdir(parents=True, exist_ok=True)
    needed = sum(m.size for m in members)
    if shutil.disk_usage(work_dir).free < needed:
        raise disk_space_error(work_dir, needed)
    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = work_dir / f"{folder.name}~{token}.extract"
    tmp.mkdir()
    try:
        with _open_archive(archive) as (kind, handle):
            files = _unpack(archive, kind, handle, members, tmp, limit)
        write_json_atomic(
            tmp / MARKER,
            {
                "archive": archive.name,
                "archive_sha256": archive_sha256,
                "files": files,
                "extracted_at": time.time(),
            },
        )
        _install(tmp, folder, archive_sha256, work_dir / f"{folder.name}~{token}.old")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("extracted %s into %s (%d files)", archive.name, folder, len(files))
    return folder


def _install(tmp: Path, folder: Path, archive_sha256: str, trash: Path) -> None:
    """Rename the finished extraction into place; an old or half-done folder is moved aside first."""
    if folder.exists() or folder.is_symlink():
        if intact(folder, archive_sha256):  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
            return
        os.rename(folder, trash)
    try:
        os.rename(tmp, folder)
    except OSError:
        if not intact(folder, archive_sha256):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    if trash.exists() or trash.is_symlink():
        shutil.rmtree(trash, ignore_errors=True)
