"""The published session files, from the Hugging Face mirror's listing of ``marre_lab/goldin_2022``.

The mirror holds one ``<session>.h5`` per recording directly in the folder ``marre_lab/goldin_2022`` of the
dataset repository ``open-retina/open-retina``. The hub's tree listing of that folder (cached by the core for
offline use) gives every file with its size and LFS sha256, which the download then verifies. A file is a
session of a species when it ends in ``.h5`` and has the species as a name component (``layout.session_species``:
the rule ``data_dir=`` loading applies too). Without a listing (offline, hub unreachable, nothing cached) the
names in ``constants.UNVERIFIED_FALLBACK_FILES`` are used: guesses, and the source says so.

Registered as the dataset's file lister in ``card.py``; the core calls :func:`published_files` with a mode
(``"cache"``: no network; ``"auto"``: the cached listing, else the hub; ``"refresh"``: the hub, else the cache).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote

from openretina_core.files import PublishedFiles, TreeEntry, files_from_mirror
from openretina_core.registry import RemoteFile
from openretina_goldin_2022.constants import (
    DATASET_ID,
    HF_DATASET_FOLDER,
    HF_REPO_ID,
    HF_RESOLVE_BASE,
    HF_REVISION,
    SESSION_SUFFIX,
    UNVERIFIED_FALLBACK_FILES,
)
from openretina_goldin_2022.layout import session_species

logger = logging.getLogger(__name__)


def remote_file(name: str, species: str) -> RemoteFile:
    """One session file of the mirror folder, fetched under its own name into the dataset's cache folder."""
    return RemoteFile(relative_path=name, urls=(f"{HF_RESOLVE_BASE}/{quote(name)}",), group=species)


def fallback_files() -> tuple[RemoteFile, ...]:
    """The card's static file list: the unverified guessed names (see constants.py)."""
    return tuple(
        remote_file(name, species) for species, names in UNVERIFIED_FALLBACK_FILES.items() for name in names
    )


def files_from_listing(
    entries: Iterable[TreeEntry],
) -> tuple[tuple[RemoteFile, ...], dict[str, tuple[str, ...]]]:
    """A session per ``*.h5`` directly in the folder whose name has exactly one species as a component;
    sub-folders, other files (README, ``.gitattributes``) and names without a species are skipped."""
    prefix = f"{HF_DATASET_FOLDER}/"
    files: list[RemoteFile] = []
    sessions: dict[str, tuple[str, ...]] = {}
    for entry in sorted(entries, key=lambda e: e.path):
        if entry.kind != "file" or not entry.path.startswith(prefix):
            continue
        name = entry.path[len(prefix) :]
        if "/" in name or name.startswith(".") or not name.endswith(SESSION_SUFFIX):
            continue
        species = session_species(name)
        if species is None:
            logger.debug("%s: %s names no species; not a session", DATASET_ID, name)
            continue
        files.append(remote_file(name, species))
        sessions[name[: -len(SESSION_SUFFIX)]] = (name,)
    return tuple(files), sessions


def _fallback(reason: str) -> PublishedFiles:
    files = fallback_files()
    sessions = {f.relative_path[: -len(SESSION_SUFFIX)]: (f.relative_path,) for f in files}
    source = (
        f"the UNVERIFIED file names guessed by this plugin ({', '.join(f.relative_path for f in files)}; "
        f"{reason}; the mirror's real names may differ: pass data_dir= a downloaded copy of the folder)"
    )
    return PublishedFiles(files, source, sessions, complete=False)


def published_files(mode: str = "cache") -> PublishedFiles:
    """Every session file the mirror lists, else the unverified guessed names (never raises)."""
    return files_from_mirror(
        DATASET_ID,
        HF_REPO_ID,
        HF_DATASET_FOLDER,
        revision=HF_REVISION,
        mode=mode,
        parse=files_from_listing,
        fallback=_fallback,
        what="mirror's session files",
    )
