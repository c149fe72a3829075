"""Which files are sessions: the ``*.h5`` files of one folder whose name has the species as a component.

A name component is a maximal run of letters, compared without case: ``mouse_1.h5``, ``2019Mouse.h5`` and
``retina-mouse-b.h5`` are mouse sessions; ``dormouse.h5``, ``mouse.txt`` and a folder ``mouse/`` are not.
(openretina tests ``species in name`` on every entry of the folder, so a folder or a ``.txt`` file whose name
contains the species is opened as a session and fails.)
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from openretina_core import BadDataError
from openretina_goldin_2022.constants import (
    DATASET_ID,
    HF_FOLDER_URL,
    RESPONSE_TYPES,
    SESSION_SUFFIX,
    SPECIES,
    SPLITS,
    STIM_TYPES,
)

logger = logging.getLogger(__name__)

_LETTERS = re.compile(r"[a-z]+")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise BadDataError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_species(species: str) -> str:
    return _check_choice("species", species, SPECIES)


def check_stim_type(stim_type: str) -> str:
    return _check_choice("stim_type", stim_type, STIM_TYPES)


def check_response_type(response_type: str) -> str:
    return _check_choice("response_type", response_type, RESPONSE_TYPES)


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise BadDataError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def name_components(file_name: str) -> set[str]:
    """The runs of letters of a file name without its suffix, lower-cased."""
    stem = file_name[: -len(SESSION_SUFFIX)] if file_name.endswith(SESSION_SUFFIX) else file_name
    return set(_LETTERS.findall(stem.lower()))


def session_species(file_name: str) -> str | None:
    """The species a session file belongs to (``None`` if none or several are named)."""
    named = [s for s in SPECIES if s in name_components(file_name)]
    return named[0] if len(named) == 1 else None


def resolve_species(species: str | None, specie: str | None) -> str:
    """``species``, or openretina's spelling ``specie`` (not both, unless they agree)."""
    if specie is not None and species is not None and specie != species:
        raise BadDataError(f"species={species!r} and specie={specie!r} disagree; pass one of them")
    return check_species(species if species is not None else specie if specie is not None else SPECIES[0])


def find_session_files(
    base_data_path: str | os.PathLike[str], species: str, sessions: Iterable[str] | None = None
) -> dict[str, Path]:
    """``{session: path}`` of every ``species`` session file in the folder, sorted by session name.

    ``sessions`` restricts the result (names without ``.h5``); an unknown name is an error listing the
    available ones.
    """
    check_species(species)
    folder = Path(base_data_path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"the Goldin 2022 data folder {str(folder)!r} does not exist or is not a folder. Point data_dir "
            f"at the folder holding the session files (a copy of {HF_FOLDER_URL}), or pass download=True "
            f"(without data_dir) to fetch them into the cache."
        )
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if not entry.name.endswith(SESSION_SUFFIX) or not entry.is_file():
            if species in name_components(entry.name):
                logger.debug("ignoring %s: not an %s file", entry, SESSION_SUFFIX)
            continue
        if session_species(entry.name) == species:
            found[entry.name[: -len(SESSION_SUFFIX)]] = entry
    if not found:
        present = sorted(p.name for p in folder.iterdir() if p.name.endswith(SESSION_SUFFIX))
        raise FileNotFoundError(
            f"no {species} session in {str(folder)!r}: expected *{SESSION_SUFFIX} files whose name has "
            f"{species!r} as a component (found {present or 'no .h5 files'}). Check data_dir and species "
            f"(one of {list(SPECIES)}), or pass download=True (without data_dir) to fetch dataset "
            f"{DATASET_ID!r}."
        )
    if sessions is None:
        return found
    wanted = [str(s) for s in ([sessions] if isinstance(sessions, str) else sessions)]
    wanted = [s[: -len(SESSION_SUFFIX)] if s.endswith(SESSION_SUFFIX) else s for s in wanted]
    unknown = [s for s in wanted if s not in found]
    if unknown:
        raise BadDataError(
            f"unknown {species} session(s) {unknown} in {str(folder)!r}; available: {sorted(found)}"
        )
    return {s: found[s] for s in sorted(set(wanted))}
