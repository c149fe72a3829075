"""Find the published folder layout: the data root, its session folders and their HDF5 files."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from openretina_core import BadDataError
from openretina_maheswaranathan_2023.constants import (
    ARCHIVE_DIR,
    GANGLION_DIR,
    RESPONSE_TYPES,
    STIM_TYPES,
)

logger = logging.getLogger(__name__)


def check_stim_type(stim_type: str) -> str:
    if stim_type not in STIM_TYPES:
        raise BadDataError(f"stim_type must be one of {list(STIM_TYPES)}, got {stim_type!r}")
    return stim_type


def check_response_type(response_type: str) -> str:
    if response_type not in RESPONSE_TYPES:
        raise BadDataError(f"response_type must be one of {list(RESPONSE_TYPES)}, got {response_type!r}")
    return response_type


def ganglion_cell_dir(base_data_path: str | os.PathLike[str]) -> Path:
    """The ``ganglion_cell_data`` folder for a data root.

    ``base_data_path`` is the extracted ``neural_code_data/`` folder. For convenience the folder that holds
    ``neural_code_data/`` and the ``ganglion_cell_data/`` folder itself are accepted too.
    """
    base = Path(base_data_path).expanduser()
    candidates = [
        base / GANGLION_DIR,
        base / ARCHIVE_DIR / GANGLION_DIR,
        base / ARCHIVE_DIR / ARCHIVE_DIR / GANGLION_DIR,
    ]
    if base.name == GANGLION_DIR:
        candidates.insert(0, base)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"no {GANGLION_DIR}/ folder found for the Maheswaranathan 2023 data under {str(base)!r} "
        f"(looked for {looked}). Point data_dir at the extracted {ARCHIVE_DIR}/ folder, or pass "
        f"download=True (without data_dir) to fetch it into the cache."
    )


def find_session_files(
    base_data_path: str | os.PathLike[str], stim_type: str, sessions: Iterable[str] | None = None
) -> dict[str, Path]:
    """``{session: path of <session>/<stim_type>.h5}``, sorted by session name.

    A session folder without the requested file is skipped with a logged reason. ``sessions`` restricts the
    result; an unknown name is an error listing the available ones.
    """
    check_stim_type(stim_type)
    folder = ganglion_cell_dir(base_data_path)
    file_name = f"{stim_type}.h5"
    found: dict[str, Path] = {}
    for sub in sorted(folder.iterdir()):
        if not sub.is_dir():
            continue
        if sub.name.startswith((".", "__")):  # e.g. __MACOSX/ from archives made on a Mac
            logger.debug("ignoring %s (hidden or system folder)", sub)
            continue
        path = sub / file_name
        if path.is_file():
            found[sub.name] = path
        else:
            logger.warning("skipping session folder %s: it has no %s", sub, file_name)
    if not found:
        raise FileNotFoundError(
            f"no session with {file_name} in {str(folder)!r} (expected "
            f"{GANGLION_DIR}/<session>/{file_name}). Check data_dir, or pass download=True (without "
            f"data_dir) to fetch the dataset."
        )
    if sessions is None:
        return found
    wanted = [str(s) for s in ([sessions] if isinstance(sessions, str) else sessions)]
    unknown = [s for s in wanted if s not in found]
    if unknown:
        raise BadDataError(
            f"unknown session(s) {unknown} for stim_type {stim_type!r} in {str(folder)!r}; "
            f"available: {sorted(found)}"
        )
    return {s: found[s] for s in sorted(set(wanted))}
