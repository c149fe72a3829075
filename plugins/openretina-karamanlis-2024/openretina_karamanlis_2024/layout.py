"""Where a session's file is: session folders (or ``<session>.zip``) under ``sessions/``, one per recording.

A session belongs to a species when the species is one of the ``_``-separated parts of its name
(``20201112_252MEA_mouse_left_half_dorsal`` is a mouse session; ``x_marmosetlike_y`` is no marmoset session).
Zipped sessions are read through a copy of the one needed file, extracted safely into the cache, never next
to the user's files.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import logging
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from attrs import define

from openretina_core import BadArchiveError, BadDataError
from openretina_karamanlis_2024.constants import (
    DATASET_ID,
    EXTRACTED_DIR,
    FILE_SUFFIX,
    SESSIONS_DIR,
    SPECIES,
    STIM_TYPES,
    UNSUPPORTED_STIM_TYPES,
)

logger = logging.getLogger(__name__)

_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_MEA = re.compile(r"^\d+MEA$", re.IGNORECASE)


@define(frozen=True)
class SessionFile:
    """The stimulus/response file of one session, ready to open with h5py.

    ``path`` is readable (the file itself, or its extracted copy); ``source`` is what identifies the data for
    caches (the file, or the zip it came from, with ``member`` naming the file inside).
    """

    session: str
    species: str
    path: Path
    source: Path
    member: str | None = None

    @property
    def array(self) -> str | None:
        """The MEA named in the session's folder (e.g. ``"252MEA"``), if any."""
        return next((part for part in self.session.split("_") if _MEA.match(part)), None)

    def identity(self) -> dict[str, object]:
        """Source path, size and modification time: a changed or replaced file gives a different identity."""
        stat = self.source.stat()
        return {
            "source": str(self.source.resolve()),
            "member": self.member,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }


def check_species(species: str) -> str:
    if species not in SPECIES:
        raise BadDataError(f"species must be one of {list(SPECIES)}, got {species!r}")
    return species


def check_stim_type(stim_type: str) -> str:
    if stim_type in STIM_TYPES:
        return stim_type
    hint = ""
    if stim_type in UNSUPPORTED_STIM_TYPES:
        hint = (
            f" ({stim_type!r} files are published but hold other fields than the fixation-movie keys this loader "
            f"reads; they are not supported)"
        )
    raise BadDataError(f"stim_type must be one of {list(STIM_TYPES)}, got {stim_type!r}{hint}")


def session_species(name: str) -> str | None:
    """The species named by one ``_``-separated part of a session name (case-insensitive), or None."""
    parts = {part.lower() for part in name.split("_")}
    found = [species for species in SPECIES if species in parts]
    return found[0] if len(found) == 1 else None


def sessions_dir(base: str | os.PathLike[str]) -> Path:
    """``<base>/sessions`` when it exists, else ``base`` itself (a path to the sessions folder)."""
    root = Path(base).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"{DATASET_ID}: data folder '{root}' does not exist; expected the folder holding "
            f"'{SESSIONS_DIR}/' (or pass download=True)"
        )
    nested = root / SESSIONS_DIR
    return nested if nested.is_dir() else root


def _is_candidate(name: str, stim_type: str) -> bool:
    base = PurePosixPath(name).name
    if base.startswith(".") or "__MACOSX" in PurePosixPath(name).parts:
        return False
    wanted = f"{stim_type}{FILE_SUFFIX}"
    return base == wanted or base.endswith(f"_{wanted}")


def list_sessions(base: str | os.PathLike[str], species: str) -> list[tuple[str, Path]]:
    """``(session name, folder or zip)`` of every session of ``species``, sorted; a folder wins over its zip."""
    check_species(species)
    root = sessions_dir(base)
    found: dict[str, Path] = {}
    others: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            name = entry.name
        elif entry.is_file() and entry.suffix.lower() == ".zip":
            name = entry.name[: -len(".zip")]
        else:
            continue
        if session_species(name) != species:
            others.append(entry.name)
            continue
        if name in found and found[name].is_dir():
            logger.debug("%s: using the folder %s, not %s", name, found[name], entry)
            continue
        found[name] = entry
    if not found:
        listing = ", ".join(others[:10]) if others else "nothing that looks like a session"
        raise FileNotFoundError(
            f"{DATASET_ID}: no {species} session in '{root}' (found: {listing}). A session is a folder "
            f"or <session>.zip whose '_'-separated name contains {species!r}, e.g. "
            f"'20201112_252MEA_mouse_left_half_dorsal'."
        )
    return sorted(found.items())


def locate_file(
    session: str, entry: Path, stim_type: str, extract_root: Path
) -> tuple[Path, Path, str | None] | None:
    """``(readable path, source, zip member)`` of the session's ``*<stim_type>_data.mat``.

    Returns None (with the reason logged) when the session has no such file; raises ``ValueError`` naming
    both files when there are several.
    """
    if entry.is_dir():
        matches = sorted(
            p
            for p in entry.rglob(f"*{stim_type}{FILE_SUFFIX}")
            if p.is_file() and _is_candidate(str(p), stim_type)
        )
        if _check_count(session, [str(p) for p in matches], stim_type, entry):
            return matches[0], matches[0], None
        return None
    from openretina_core.files import list_members

    list_members(entry, entry.stem)  # duplicate names, a file that is also a folder, unsafe paths: refused
    try:
        with zipfile.ZipFile(entry) as archive:
            names = [
                i.filename
                for i in archive.infolist()
                if not i.is_dir() and _is_candidate(i.filename, stim_type)
            ]
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BadArchiveError(
            entry, f"the session archive cannot be read ({exc}); download it again"
        ) from exc
    if not _check_count(session, names, stim_type, entry):
        return None
    return _extract_member(entry, names[0], extract_root / session), entry, names[0]


def _check_count(session: str, matches: list[str], stim_type: str, where: Path) -> bool:
    if len(matches) > 1:
        raise BadDataError(
            f"{DATASET_ID}: session {session!r} has {len(matches)} files ending in '{stim_type}{FILE_SUFFIX}' "
            f"in '{where}': {matches}. Keep one of them."
        )
    if not matches:
        logger.warning(
            "%s: skipping session %s: no file ending in '%s%s' in %s",
            DATASET_ID,
            session,
            stim_type,
            FILE_SUFFIX,
            where,
        )
        return False
    return True


def _extract_member(archive: Path, member: str, folder: Path) -> Path:
    """Copy one zip member to ``folder/<archive identity>/<member name>`` atomically; reuse it while intact.

    Members are validated first by the core's archive checks (absolute paths, ``..``, links, archive bombs).
    The copy's size, sha256 and stamp go into the core's extraction marker beside it: a copy changed or
    deleted since is extracted again, never served (``check_extracted`` re-hashes it). A cache that cannot be
    written (read-only, full) gives a warning and a copy in a temporary folder, removed when the process ends.
    """
    from openretina_core.files import intact_files, list_members, sweep_beside

    stat = archive.stat()
    token = hashlib.sha256(
        f"{archive.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{member}".encode()
    ).hexdigest()
    target = folder / token[:16] / PurePosixPath(member).name
    members = {m.source.filename: m for m in list_members(archive, archive.stem) if m.kind == "file"}
    if member not in members:
        raise BadDataError(f"{archive}: member {member!r} is not a regular file")
    sweep_beside(target.parent)  # what a killed extraction left
    if target.is_file() and intact_files(target.parent, [target.name]):
        return target
    try:
        _copy_member(archive, member, members[member].size, target)
    except OSError as exc:
        if exc.errno not in _NOT_WRITABLE:
            raise
        scratch = Path(tempfile.mkdtemp(prefix="openretina-karamanlis-"))
        atexit.register(shutil.rmtree, scratch, True)
        logger.warning(
            "%s: cannot extract %s from %s into the cache %s (%s); using a temporary copy in %s",
            DATASET_ID,
            member,
            archive,
            target.parent,
            exc,
            scratch,
        )
        target = scratch / target.name
        _copy_member(archive, member, members[member].size, target)
        return target
    for stale in folder.iterdir():  # older extractions of a replaced archive
        if stale.is_dir() and stale.name != token[:16]:
            shutil.rmtree(stale, ignore_errors=True)
    return target


def _copy_member(archive: Path, member: str, expected: int, target: Path) -> None:
    """The member's bytes into ``target`` (through a ``.part`` file), then its marker (size, sha256, stamp)."""
    from openretina_core.files import drop_record, partial_beside, record_extracted

    target.parent.mkdir(parents=True, exist_ok=True)
    drop_record(target.parent)
    partial = partial_beside(target)
    logger.info("extracting %s from %s into %s", member, archive, target.parent)
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(member) as source, open(partial, "wb") as sink:
            while block := source.read(1 << 20):
                digest.update(block)
                sink.write(block)
        if partial.stat().st_size != expected:
            raise BadDataError(
                f"{archive}: member {member!r} extracted to {partial.stat().st_size} bytes, expected {expected}"
            )
        os.replace(partial, target)
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise BadArchiveError(
            archive, f"member {member!r} cannot be read ({exc}); download it again"
        ) from exc
    finally:
        partial.unlink(missing_ok=True)
    record_extracted(target.parent, {target.name: digest.hexdigest()}, archive=str(archive))


def find_session_files(
    base: str | os.PathLike[str], species: str, stim_type: str, extract_root: Path
) -> list[SessionFile]:
    """Every usable session of ``species``: sessions without the file are skipped (logged), none is an error."""
    check_stim_type(stim_type)
    sessions = list_sessions(base, species)
    files = []
    for name, entry in sessions:
        located = locate_file(name, entry, stim_type, extract_root)
        if located is not None:
            files.append(SessionFile(name, species, *located))
    if not files:
        raise FileNotFoundError(
            f"{DATASET_ID}: none of the {len(sessions)} {species} sessions in '{sessions_dir(base)}' has a file "
            f"ending in '{stim_type}{FILE_SUFFIX}' (sessions: {[n for n, _ in sessions]})"
        )
    return files


def default_extract_root(cache_dir: Path) -> Path:
    return cache_dir / EXTRACTED_DIR
