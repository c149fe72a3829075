"""Spike counts of the Goldin 2022 sessions, as ``{session: ResponsesTrainTestSplit}``.

Counts per image presentation are divided by ``fr_normalization`` (0.3 s: spikes per second). The single trials
of the test images, ``test/repeats/cell<k>`` of shape ``(repeats, N_img_test)`` each, are stacked in order of
``k`` into ``(repeats, cells, N_img_test)``, divided alike, and checked against the stored test average.
Every count is checked against the number of images it belongs to (read from the stimulus shapes only).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from openretina_core import BadDataError
from openretina_core.data import ResponsesTrainTestSplit, open_hdf5
from openretina_goldin_2022.constants import (
    DEFAULT_FR_NORMALIZATION,
    DEFAULT_RESPONSE_TYPE,
    DEFAULT_STIM_TYPE,
    REPEATS_ATOL,
    REPEATS_CELL_PATTERN,
    REPEATS_RTOL,
    SESSION_FILE_EXPECTED,
    TEST_NAME,
    TEST_REPEATS_GROUP,
    TEST_RESPONSE_GROUP,
    TEST_STIMULUS_KEY,
    TRAIN_RESPONSE_GROUP,
    TRAIN_STIMULUS_KEY,
)
from openretina_goldin_2022.h5read import read_float32, read_image_major, require_dataset
from openretina_goldin_2022.layout import (
    check_response_type,
    check_stim_type,
    find_session_files,
    resolve_species,
)
from openretina_goldin_2022.layout import session_species as species_of_file

logger = logging.getLogger(__name__)


def _check_fr_normalization(value: float) -> float:
    if not (isinstance(value, int | float) and value > 0 and np.isfinite(value)):
        raise BadDataError(f"fr_normalization must be a positive number of seconds, got {value!r}")
    return float(value)


def repeat_cell_keys(group: h5py.Group) -> list[str]:
    """The ``cell<k>`` datasets of a repeats group, in order of ``k`` (``cell2`` before ``cell10``)."""
    pattern = re.compile(REPEATS_CELL_PATTERN)
    found = []
    for name, node in group.items():
        match = pattern.match(name)
        if match and isinstance(node, h5py.Dataset):
            found.append((int(match.group(1)), name))
    return [name for _, name in sorted(found)]


def load_test_repeats_for_session(
    path: str | os.PathLike[str],
    fr_normalization: float = DEFAULT_FR_NORMALIZATION,
    n_cells: int | None = None,
    n_images: int | None = None,
) -> np.ndarray | None:
    """Single trials ``(repeats, cells, N_img_test)`` divided by ``fr_normalization``, or ``None`` when the
    file has no ``test/repeats/cell<k>``. ``n_cells``/``n_images`` are what the caller expects (checked)."""
    fr_normalization = _check_fr_normalization(fr_normalization)
    path = Path(path)
    with open_hdf5(path, SESSION_FILE_EXPECTED) as h5:
        group = h5.get(TEST_REPEATS_GROUP)
        if not isinstance(group, h5py.Group):
            return None
        names = repeat_cell_keys(group)
        if not names:
            logger.warning("%s: %r holds no cell<k> datasets (%s)", path, TEST_REPEATS_GROUP, sorted(group))
            return None
        if n_cells is not None and len(names) != n_cells:
            raise BadDataError(
                f"{path}: {TEST_REPEATS_GROUP!r} holds {len(names)} cell<k> datasets ({names[0]} ... "
                f"{names[-1]}) but the responses have {n_cells} cells; expected one per cell"
            )
        first = require_dataset(h5, f"{TEST_REPEATS_GROUP}/{names[0]}", path)
        expected_images = first.shape[-1] if n_images is None else n_images
        out: np.ndarray | None = None
        for index, name in enumerate(names):
            key = f"{TEST_REPEATS_GROUP}/{name}"
            trials = read_float32(require_dataset(h5, key, path), path, "(repeats, images)", fr_normalization)
            if trials.shape != (first.shape[0], expected_images):
                raise BadDataError(
                    f"{path}: key {key!r} has shape {trials.shape}; expected (repeats, test images) = "
                    f"{(first.shape[0], expected_images)} ({TEST_STIMULUS_KEY!r} has {expected_images} images)"
                )
            if out is None:
                out = np.empty((trials.shape[0], len(names), trials.shape[1]), dtype=np.float32)
            out[:, index] = trials
    return out


def check_repeats_mean(path: Path, repeats: np.ndarray, test: np.ndarray, test_key: str) -> None:
    """The mean over trials must equal the stored test average (both after ``fr_normalization``)."""
    mean = repeats.mean(axis=0, dtype=np.float64)
    if np.allclose(mean, test, rtol=REPEATS_RTOL, atol=REPEATS_ATOL, equal_nan=True):
        return
    difference = np.abs(mean - test)
    cell, image = np.unravel_index(int(np.nanargmax(difference)), difference.shape)
    bad = int((~np.isclose(mean, test, rtol=REPEATS_RTOL, atol=REPEATS_ATOL, equal_nan=True)).sum())
    raise BadDataError(
        f"{path}: the mean of the single trials in {TEST_REPEATS_GROUP!r} disagrees with the stored test "
        f"average {test_key!r} at {bad} of {test.size} (cell, image) entries; largest difference "
        f"{difference[cell, image]:.4g} at cell {cell}, test image {image} (mean of trials "
        f"{mean[cell, image]:.6g}, stored {test[cell, image]:.6g}). Expected equality within rtol "
        f"{REPEATS_RTOL:g}. Pass check_repeats=False to load anyway."
    )


def _require_images(array: np.ndarray, n_images: int, path: Path, key: str, stimulus_key: str) -> None:
    if array.shape[1] != n_images:
        raise BadDataError(
            f"{path}: key {key!r} has responses to {array.shape[1]} images but {stimulus_key!r} holds "
            f"{n_images} images; expected one response per image (shape (cells, {n_images}))"
        )


def load_responses_for_session(
    path: str | os.PathLike[str],
    response_type: str = DEFAULT_RESPONSE_TYPE,
    fr_normalization: float = DEFAULT_FR_NORMALIZATION,
    session: str | None = None,
    check_repeats: bool = True,
    stim_type: str = DEFAULT_STIM_TYPE,
) -> ResponsesTrainTestSplit:
    """One session file's train/test responses (and single trials), divided by ``fr_normalization``."""
    check_response_type(response_type)
    check_stim_type(stim_type)
    fr_normalization = _check_fr_normalization(fr_normalization)
    path = Path(path)
    train_key = f"{TRAIN_RESPONSE_GROUP}/{response_type}"
    test_key = f"{TEST_RESPONSE_GROUP}/{response_type}"
    with open_hdf5(path, SESSION_FILE_EXPECTED) as h5:
        n_train = int(require_dataset(h5, TRAIN_STIMULUS_KEY, path).shape[0])
        n_test = int(require_dataset(h5, TEST_STIMULUS_KEY, path).shape[0])
        train = read_image_major(require_dataset(h5, train_key, path), path, fr_normalization)
        test = read_float32(require_dataset(h5, test_key, path), path, "(cells, images)", fr_normalization)
    _require_images(train, n_train, path, train_key, TRAIN_STIMULUS_KEY)
    _require_images(test, n_test, path, test_key, TEST_STIMULUS_KEY)
    if test.shape[0] != train.shape[0]:
        raise BadDataError(
            f"{path}: key {test_key!r} has {test.shape[0]} cells but {train_key!r} has {train.shape[0]}; "
            f"expected the same cells"
        )
    repeats = load_test_repeats_for_session(path, fr_normalization, n_cells=train.shape[0], n_images=n_test)
    if repeats is not None and check_repeats:
        check_repeats_mean(path, repeats, test, test_key)
    session_kwargs: dict[str, Any] = {
        "session": session or path.stem,
        "species": species_of_file(path.name),
        "source_file": str(path),
        "response_type": response_type,
        "fr_normalization": fr_normalization,
        "n_cells": int(train.shape[0]),
        "n_train_images": n_train,
        "n_test_images": n_test,
        "n_repeats": int(repeats.shape[0]) if repeats is not None else 0,
    }
    return ResponsesTrainTestSplit(
        train=train,
        test_dict={TEST_NAME: test},
        test_by_trial_dict={TEST_NAME: repeats} if repeats is not None else {},
        stim_id=stim_type,
        session_kwargs=session_kwargs,
    )


def load_all_responses(
    base_data_path: str | os.PathLike[str],
    response_type: str = DEFAULT_RESPONSE_TYPE,
    stim_type: str = DEFAULT_STIM_TYPE,
    species: str | None = None,
    fr_normalization: float = DEFAULT_FR_NORMALIZATION,
    sessions: Iterable[str] | None = None,
    *,
    specie: str | None = None,
    check_repeats: bool = True,
) -> dict[str, ResponsesTrainTestSplit]:
    """``{session: ResponsesTrainTestSplit}`` for every ``species`` session file in ``base_data_path``.

    The positional order is openretina's (``specie=`` works as a keyword). ``check_repeats=False`` loads
    sessions whose single trials disagree with the stored test average.
    """
    check_response_type(response_type)
    files = find_session_files(base_data_path, resolve_species(species, specie), sessions)
    return {
        session: load_responses_for_session(
            path,
            response_type,
            fr_normalization,
            session=session,
            check_repeats=check_repeats,
            stim_type=stim_type,
        )
        for session, path in files.items()
    }
