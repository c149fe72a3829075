"""Responses: spike counts per stimulus frame from ``runningbin`` (training) and ``frozenbin`` (repeats)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from openretina_core import BadDataError
from openretina_core.data import ResponsesTrainTestSplit, check_finite, check_real_dtype
from openretina_karamanlis_2024.constants import FRAME_RATE_HZ, KEY_FROZEN_BIN, KEY_RUNNING_BIN, TEST_NAME
from openretina_karamanlis_2024.layout import SessionFile, default_extract_root, find_session_files
from openretina_karamanlis_2024.movie_cache import dataset_cache
from openretina_karamanlis_2024.stimuli import open_mat, read_key

logger = logging.getLogger(__name__)


def _bins(dataset: Any, what: str, path: Any) -> np.ndarray:
    """``(blocks or trials, T, neurons)`` float32, read without a float64 copy.

    MATLAB drops a trailing singleton axis: one block (or one trial) is stored as ``(T, neurons)``.
    """
    check_real_dtype(dataset.dtype, path, what)
    array = dataset.astype(np.float32)[()]
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise BadDataError(
            f"{path}: {what} has shape {dataset.shape}, expected (blocks or trials, time, neurons)"
        )
    return check_finite(array, path, what, allow_nan=True)  # NaN: the loaders' nan_policy


def load_session_responses(
    file: SessionFile, stim_type: str, fr_normalization: float = 1.0
) -> ResponsesTrainTestSplit:
    """Train ``(N, blocks*T)`` (blocks concatenated in file order), test ``(N, T_test)`` = the mean of the
    per-trial ``(trials, N, T_test)``; all divided by ``fr_normalization`` (1.0: spike counts per frame)."""
    if not fr_normalization > 0:
        raise BadDataError(f"fr_normalization must be positive, got {fr_normalization}")
    with open_mat(file.path) as handle:
        running = _bins(read_key(handle, KEY_RUNNING_BIN, file.path), KEY_RUNNING_BIN, file.path)
        frozen = _bins(read_key(handle, KEY_FROZEN_BIN, file.path), KEY_FROZEN_BIN, file.path)
    if running.shape[2] != frozen.shape[2]:
        raise BadDataError(
            f"{file.path}: {KEY_RUNNING_BIN} has {running.shape[2]} neurons but {KEY_FROZEN_BIN} has "
            f"{frozen.shape[2]}"
        )
    if fr_normalization != 1.0:
        running /= np.float32(fr_normalization)
        frozen /= np.float32(fr_normalization)
    blocks, t_block, n_neurons = running.shape
    train = running.reshape(blocks * t_block, n_neurons).T  # a view of the time-major array: no copy later
    by_trial = frozen.transpose(0, 2, 1)  # (trials, N, T_test)
    return ResponsesTrainTestSplit(
        train=train,
        test_dict={TEST_NAME: by_trial.mean(axis=0, dtype=np.float32)},
        test_by_trial_dict={TEST_NAME: by_trial},
        stim_id=stim_type,
        session_kwargs={
            "species": file.species,
            "array": file.array,
            "frame_rate_hz": FRAME_RATE_HZ[file.species],
            "stim_type": stim_type,
            "running_blocks": int(blocks),
            "frozen_trials": int(frozen.shape[0]),
            "fr_normalization": float(fr_normalization),
            "source_file": str(file.source) if file.member is None else f"{file.source}:{file.member}",
        },
    )


def responses_for_files(
    files: Sequence[SessionFile], stim_type: str, fr_normalization: float = 1.0
) -> dict[str, ResponsesTrainTestSplit]:
    return {f.session: load_session_responses(f, stim_type, fr_normalization) for f in files}


def load_all_responses(
    base_data_path: str | os.PathLike[str],
    species: str = "mouse",
    stim_type: str = "fixationmovie",
    fr_normalization: float = 1.0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, ResponsesTrainTestSplit]:
    """``{session: ResponsesTrainTestSplit}`` for every ``species`` session under ``base_data_path``.

    Units: spike counts per stimulus frame (divided by ``fr_normalization``). ``cache_dir`` is only used to
    extract zipped sessions.
    """
    files = find_session_files(
        base_data_path, species, stim_type, default_extract_root(dataset_cache(cache_dir))
    )
    return responses_for_files(files, stim_type, fr_normalization)
