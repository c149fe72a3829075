"""Ganglion-cell responses of the Maheswaranathan 2023 sessions, as ``{session: ResponsesTrainTestSplit}``.

Only the keys of the requested response type are read (plus the stimulus shapes, as metadata, to check the
time axes). Responses one bin longer than their stimulus (the published test responses: e.g. 5997 bins for
5996 frames) are trimmed to the stimulus length, logged, and recorded in ``session_kwargs``.
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
from openretina_maheswaranathan_2023.constants import (
    DEFAULT_RESPONSE_TYPE,
    DEFAULT_STIM_TYPE,
    MAX_EXTRA_RESPONSE_BINS,
    REPEATS_CELL_PATTERN,
    SESSION_FILE_EXPECTED,
    TEST_NAME,
    TEST_REPEATS_GROUP,
    TEST_RESPONSE_GROUP,
    TEST_STIMULUS_KEY,
    TRAIN_RESPONSE_GROUP,
    TRAIN_STIMULUS_KEY,
)
from openretina_maheswaranathan_2023.h5read import read_array, require_dataset
from openretina_maheswaranathan_2023.layout import check_response_type, find_session_files

logger = logging.getLogger(__name__)


def fit_time_axis(
    array: np.ndarray, n_frames: int, path: Path, key: str, stimulus_key: str
) -> tuple[np.ndarray, int]:
    """Trim ``array``'s last (time) axis to ``n_frames``; return it and the number of bins removed.

    Up to ``MAX_EXTRA_RESPONSE_BINS`` surplus bins are trimmed (logged); any other mismatch is an error.
    """
    n_bins = array.shape[-1]
    extra = n_bins - n_frames
    if extra == 0:
        return array, 0
    if 0 < extra <= MAX_EXTRA_RESPONSE_BINS:
        logger.info(
            "%s: %r has %d bins for %d frames of %r; trimming the last %d bin(s)",
            path,
            key,
            n_bins,
            n_frames,
            stimulus_key,
            extra,
        )
        return np.ascontiguousarray(array[..., :n_frames]), extra
    raise BadDataError(
        f"{path}: key {key!r} has {n_bins} time bins but {stimulus_key!r} has {n_frames} frames; expected "
        f"{n_frames} (or {n_frames + MAX_EXTRA_RESPONSE_BINS}, trimmed)"
    )


def _repeat_cell_keys(group: h5py.Group) -> list[tuple[int, str]]:
    pattern = re.compile(REPEATS_CELL_PATTERN)
    found = []
    for name in group:
        match = pattern.match(name)
        if match and isinstance(group[name], h5py.Dataset):
            found.append((int(match.group(1)), name))
    return sorted(found)


def read_repeats(
    h5: h5py.File, path: Path, response_type: str, n_cells: int, fr_normalization: float
) -> tuple[np.ndarray | None, str | None]:
    """Single-trial test responses ``(repeats, cells, T_stored)`` and the key they came from.

    ``test/repeats/<response_type>`` when it exists, else every ``test/repeats/cellNN`` stacked in order of
    the number after "cell" (each ``(repeats, T_stored)``). ``(None, None)`` when the file has neither.
    """
    group = h5.get(TEST_REPEATS_GROUP)
    if not isinstance(group, h5py.Group):
        logger.info("%s: no %r group; the test set has no single-trial responses", path, TEST_REPEATS_GROUP)
        return None, None
    key = f"{TEST_REPEATS_GROUP}/{response_type}"
    if response_type in group:
        repeats = read_array(require_dataset(h5, key, path), path, fr_normalization)
        if repeats.ndim != 3 or repeats.shape[1] != n_cells:
            raise BadDataError(
                f"{path}: key {key!r} has shape {repeats.shape}; expected (repeats, {n_cells}, time)"
            )
        return repeats, key
    cells = _repeat_cell_keys(group)
    if not cells:
        logger.warning(
            "%s: %r holds neither %r nor cellNN datasets (it holds %s); no single-trial responses",
            path,
            TEST_REPEATS_GROUP,
            response_type,
            sorted(group),
        )
        return None, None
    if len(cells) != n_cells:
        raise BadDataError(
            f"{path}: {TEST_REPEATS_GROUP!r} holds {len(cells)} cellNN datasets but the responses have "
            f"{n_cells} cells"
        )
    first = group[cells[0][1]]
    out: np.ndarray | None = None
    for index, (_, name) in enumerate(cells):
        cell_key = f"{TEST_REPEATS_GROUP}/{name}"
        dset = require_dataset(h5, cell_key, path)
        if dset.ndim != 2 or dset.shape != first.shape:
            raise BadDataError(
                f"{path}: key {cell_key!r} has shape {dset.shape}; expected (repeats, time) = {first.shape} "
                f"like {first.name!r}"
            )
        if out is None:
            out = np.empty((dset.shape[0], n_cells, dset.shape[1]), dtype=np.float32)
        out[:, index, :] = read_array(dset, path, fr_normalization)
    logger.info(
        "%s: single-trial responses stacked from %d cellNN datasets (%s ... %s)",
        path,
        len(cells),
        cells[0][1],
        cells[-1][1],
    )
    return out, f"{TEST_REPEATS_GROUP}/cellNN"


def load_responses_for_session(
    path: str | os.PathLike[str],
    response_type: str = DEFAULT_RESPONSE_TYPE,
    fr_normalization: float = 1.0,
    session: str | None = None,
) -> ResponsesTrainTestSplit:
    """Read one session file's train/test responses (and repeats), divided by ``fr_normalization``."""
    check_response_type(response_type)
    if not fr_normalization > 0:
        raise BadDataError(f"fr_normalization must be a positive number, got {fr_normalization!r}")
    path = Path(path)
    session = session or path.parent.name
    with open_hdf5(path, SESSION_FILE_EXPECTED) as h5:
        n_train = int(require_dataset(h5, TRAIN_STIMULUS_KEY, path).shape[0])
        n_test = int(require_dataset(h5, TEST_STIMULUS_KEY, path).shape[0])
        train_key = f"{TRAIN_RESPONSE_GROUP}/{response_type}"
        test_key = f"{TEST_RESPONSE_GROUP}/{response_type}"
        train = read_array(require_dataset(h5, train_key, path), path, fr_normalization)
        test = read_array(require_dataset(h5, test_key, path), path, fr_normalization)
        for key, array in ((train_key, train), (test_key, test)):
            if array.ndim != 2:
                raise BadDataError(f"{path}: key {key!r} has shape {array.shape}; expected (cells, time)")
        if test.shape[0] != train.shape[0]:
            raise BadDataError(
                f"{path}: key {test_key!r} has {test.shape[0]} cells but {train_key!r} has {train.shape[0]}"
            )
        repeats, repeats_key = read_repeats(h5, path, response_type, train.shape[0], fr_normalization)
    train, train_trimmed = fit_time_axis(train, n_train, path, train_key, TRAIN_STIMULUS_KEY)
    test, test_trimmed = fit_time_axis(test, n_test, path, test_key, TEST_STIMULUS_KEY)
    by_trial: dict[str, np.ndarray] = {}
    if repeats is not None and repeats_key is not None:
        repeats, repeats_trimmed = fit_time_axis(repeats, n_test, path, repeats_key, TEST_STIMULUS_KEY)
        test_trimmed = max(test_trimmed, repeats_trimmed)
        by_trial[TEST_NAME] = repeats
    session_kwargs: dict[str, Any] = {
        "session": session,
        "source_file": str(path),
        "stim_type": path.stem,
        "response_type": response_type,
        "fr_normalization": float(fr_normalization),
        "n_cells": int(train.shape[0]),
        "train_bins_trimmed": train_trimmed,
        "test_bins_trimmed": test_trimmed,
        "repeats_key": repeats_key,
        "n_repeats": int(repeats.shape[0]) if repeats is not None else 0,
    }
    return ResponsesTrainTestSplit(
        train=train,
        test_dict={TEST_NAME: test},
        test_by_trial_dict=by_trial,
        stim_id=path.stem,
        session_kwargs=session_kwargs,
    )


def load_all_responses(
    base_data_path: str | os.PathLike[str],
    stim_type: str = DEFAULT_STIM_TYPE,
    response_type: str = DEFAULT_RESPONSE_TYPE,
    fr_normalization: float = 1.0,
    sessions: Iterable[str] | None = None,
) -> dict[str, ResponsesTrainTestSplit]:
    """``{session: ResponsesTrainTestSplit}`` for every session folder holding ``<stim_type>.h5``.

    ``response_type`` is one of ``binned``, ``firing_rate_5ms``, ``firing_rate_10ms`` (default, as the
    published configuration uses) and ``firing_rate_20ms``. Responses and single trials are divided by
    ``fr_normalization``.
    """
    check_response_type(response_type)
    files = find_session_files(base_data_path, stim_type, sessions)
    return {
        session: load_responses_for_session(path, response_type, fr_normalization, session=session)
        for session, path in files.items()
    }
