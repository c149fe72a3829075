"""Every published session, from the Hugging Face mirror's listing of ``sessions/``, else the names known here.

The mirror holds one ``<session>.zip`` or one ``<session>/`` folder per recording under
``gollisch_lab/karamanlis_2024/sessions`` of the dataset repository ``open-retina/open-retina``. The hub's tree
listing of that folder (cached for offline use by the core) gives every session with its files' sizes and LFS
sha256, which the download then verifies. Without a listing (offline, hub unreachable, nothing cached) the
sessions in ``constants.KNOWN_SESSIONS`` are used, and the statement before a download says so.

Registered as the dataset's file lister in ``card.py``; the core calls :func:`published_files` with a mode
(``"cache"``: no network; ``"auto"``: the cached listing, else the hub; ``"refresh"``: the hub, else the cache).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import PurePosixPath
from urllib.parse import quote

from openretina_core.files import PublishedFiles, TreeEntry, files_from_mirror
from openretina_core.registry import RemoteFile
from openretina_karamanlis_2024.constants import (
    DATASET_ID,
    HF_DATASET_FOLDER,
    HF_REPO_ID,
    HF_RESOLVE_BASE,
    HF_REVISION,
    KNOWN_SESSIONS,
    SESSIONS_DIR,
    SPECIES,
)

logger = logging.getLogger(__name__)

LISTED_FOLDER = f"{HF_DATASET_FOLDER}/{SESSIONS_DIR}"


def session_species(name: str) -> str | None:
    """The species named by one ``_``-separated part of a session name (as ``layout.session_species``)."""
    parts = {part.lower() for part in name.split("_")}
    found = [species for species in SPECIES if species in parts]
    return found[0] if len(found) == 1 else None


def remote_file(relative_path: str, species: str, *, extract: bool) -> RemoteFile:
    """One published file of a session, fetched from the mirror under its path relative to the dataset."""
    return RemoteFile(
        relative_path=relative_path,
        urls=(f"{HF_RESOLVE_BASE}/{quote(relative_path)}",),
        extract=extract,
        group=species,
    )


def known_files() -> tuple[tuple[RemoteFile, ...], dict[str, tuple[str, ...]]]:
    """The zips of the sessions known here (the card's static file list, and the offline fallback)."""
    files = tuple(
        remote_file(f"{SESSIONS_DIR}/{name}.zip", species, extract=True)
        for species, names in KNOWN_SESSIONS.items()
        for name in names
    )
    return files, {PurePosixPath(f.relative_path).stem: (f.relative_path,) for f in files}


def files_from_listing(
    entries: Iterable[TreeEntry],
) -> tuple[tuple[RemoteFile, ...], dict[str, tuple[str, ...]]]:
    """A session per ``sessions/<name>.zip`` (extracted) or ``sessions/<name>/`` folder (its files); a session
    with both is fetched as its zip. Entries whose name names no species (a README, ``.gitattributes``) are
    skipped."""
    zips: dict[str, str] = {}
    folders: dict[str, list[str]] = {}
    prefix = f"{HF_DATASET_FOLDER}/"
    for entry in entries:
        if entry.kind != "file" or not entry.path.startswith(f"{LISTED_FOLDER}/"):
            continue
        relative = entry.path[len(prefix) :]
        parts = relative.split("/")[1:]  # below sessions/
        if any(p.startswith(".") or p == "__MACOSX" for p in parts):
            continue
        if len(parts) == 1 and parts[0].lower().endswith(".zip"):
            zips[parts[0][: -len(".zip")]] = relative
        elif len(parts) > 1:
            folders.setdefault(parts[0], []).append(relative)
    files: list[RemoteFile] = []
    sessions: dict[str, tuple[str, ...]] = {}
    for name in sorted({*zips, *folders}):
        species = session_species(name)
        if species is None:
            logger.debug("%s: %s names no species; not a session", DATASET_ID, name)
            continue
        if name in zips:
            files.append(remote_file(zips[name], species, extract=True))
            sessions[name] = (zips[name],)
        else:
            paths = tuple(sorted(folders[name]))
            files.extend(remote_file(p, species, extract=False) for p in paths)
            sessions[name] = paths
    return tuple(files), sessions


def _fallback(reason: str) -> PublishedFiles:
    files, sessions = known_files()
    source = f"the {len(sessions)} session names known to this plugin ({reason}; the mirror may hold more)"
    return PublishedFiles(files, source, sessions, complete=False)


def published_files(mode: str = "cache") -> PublishedFiles:
    """Every published session's files (the listing's), else the known sessions' zips (never raises)."""
    return files_from_mirror(
        DATASET_ID,
        HF_REPO_ID,
        LISTED_FOLDER,
        revision=HF_REVISION,
        mode=mode,
        parse=files_from_listing,
        fallback=_fallback,
        what="published sessions",
    )
