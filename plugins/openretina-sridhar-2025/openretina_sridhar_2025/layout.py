"""Where a stimulus type's files are: the folder, its sessions, and every path a session reads.

``data_dir`` may be the folder holding ``natural_movie/`` and ``whitenoise/`` (as the Hugging Face mirror's
``gollisch_lab/sridhar_2025/marmoset`` folder) or one of those folders itself (openretina's ``basepath``).
Without it the files are taken from the dataset's cache folder, fetched when ``download=True``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from attrs import define

from openretina_core import BadDataError
from openretina_sridhar_2025.constants import (
    DATASET_ID,
    EXCLUDED_CELLS,
    FIXATION_FILES,
    HF_TREE,
    IMAGES_DIR,
    NATURAL_MOVIE,
    RESPONSE_FILES,
    RESPONSES_DIR,
    STIM_FOLDERS,
    STIM_TYPES,
    WN_TEST_DIRS,
    WN_TRAIN_DIRS,
)


def check_stim_type(stim_type: str) -> str:
    if stim_type not in STIM_TYPES:
        raise BadDataError(f"stim_type must be one of {list(STIM_TYPES)}, got {stim_type!r}")
    return stim_type


@define(frozen=True)
class SessionFiles:
    """The paths one session reads (natural movie: fixations and images; white noise: the trial folders)."""

    session: str
    stim_type: str
    root: Path
    responses: Path
    fixations: Path | None = None
    images: Path | None = None
    wn_train: Path | None = None
    wn_test: Path | None = None


def stim_root(data_dir: str | os.PathLike[str] | None, stim_type: str, download: bool) -> Path:
    """The folder holding ``responses/`` (and the stimulus files) of ``stim_type``."""
    folder = STIM_FOLDERS[check_stim_type(stim_type)]
    if data_dir is None:
        from openretina_core.files import fetch_dataset
        from openretina_sridhar_2025.card import INFO

        try:
            return fetch_dataset(INFO, download=download, groups=[stim_type]) / folder
        except ConnectionError as exc:
            raise ConnectionError(
                f"{exc}\nThe archive names of the Hugging Face folder {HF_TREE}/{folder} are not verified in "
                f"this plugin's card. If the folder holds other names, download it yourself (e.g. "
                f"`huggingface-cli download open-retina/open-retina --repo-type dataset --include "
                f"'gollisch_lab/sridhar_2025/marmoset/{folder}/*'`), unpack any archives and pass data_dir= the "
                f"folder holding '{folder}/'."
            ) from exc
    base = Path(data_dir).expanduser()
    if not base.is_dir():
        raise FileNotFoundError(f"data_dir {str(base)!r} for dataset {DATASET_ID!r} does not exist")
    for candidate in (base / folder, base):
        if (candidate / RESPONSES_DIR).is_dir():
            return candidate
    raise FileNotFoundError(
        f"no {stim_type} files under {str(base)!r}: expected {base / folder / RESPONSES_DIR} (data_dir holding "
        f"'{folder}/') or {base / RESPONSES_DIR} (data_dir being the '{folder}' folder)"
    )


def session_files(root: Path, stim_type: str, sessions: Iterable[str] | None = None) -> list[SessionFiles]:
    """The sessions of ``stim_type`` under ``root``: the requested ones (each must exist), else every published
    session whose response file is present."""
    published = RESPONSE_FILES[stim_type]
    if sessions is not None:
        wanted = [str(s) for s in sessions]
        unknown = sorted(set(wanted) - set(published))
        if unknown:
            raise BadDataError(f"unknown {stim_type} session(s) {unknown}; sessions are {sorted(published)}")
    else:
        wanted = [s for s in sorted(published) if (root / published[s]).is_file()]
        if not wanted:
            expected = ", ".join(str(root / published[s]) for s in sorted(published))
            raise FileNotFoundError(
                f"no {stim_type} response files under {str(root)!r}; expected any of {expected}"
            )
    found = []
    for session in wanted:
        responses = root / published[session]
        if not responses.is_file():
            raise FileNotFoundError(f"session {session}: response file {str(responses)!r} does not exist")
        if stim_type == NATURAL_MOVIE:
            found.append(
                SessionFiles(
                    session, stim_type, root, responses, root / FIXATION_FILES[session], root / IMAGES_DIR
                )
            )
        else:
            found.append(
                SessionFiles(
                    session,
                    stim_type,
                    root,
                    responses,
                    wn_train=root / WN_TRAIN_DIRS[session],
                    wn_test=root / WN_TEST_DIRS[session],
                )
            )
    return found


def excluded_for(
    stim_type: str, session: str, excluded_cells: str | Mapping[str, Sequence[int]] | None
) -> tuple[int, ...]:
    """The cells to drop: the published lists (``"published"``), a mapping (a missing session drops none), or
    none (``None``)."""
    if excluded_cells is None:
        return ()
    if isinstance(excluded_cells, str):
        if excluded_cells != "published":
            raise BadDataError(
                f"excluded_cells must be 'published', a {{session: [cells]}} mapping or None, got {excluded_cells!r}"
            )
        return tuple(EXCLUDED_CELLS[stim_type].get(session, ()))
    if not isinstance(excluded_cells, Mapping):
        raise BadDataError(
            f"excluded_cells must be 'published', a {{session: [cells]}} mapping or None, got {excluded_cells!r}"
        )
    return tuple(int(c) for c in excluded_cells.get(session, ()))
