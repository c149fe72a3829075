"""Stimulus movies of the Maheswaranathan 2023 sessions, as ``{session: MoviesTrainTestSplit}``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from openretina_core import BadDataError
from openretina_core.data import (
    MoviesTrainTestSplit,
    StimulusMap,
    as_compact,
    check_movie_moments,
    open_hdf5,
)
from openretina_maheswaranathan_2023.constants import (
    DEFAULT_STIM_TYPE,
    SESSION_FILE_EXPECTED,
    TEST_NAME,
    TEST_STIMULUS_KEY,
    TRAIN_STIMULUS_KEY,
)
from openretina_maheswaranathan_2023.h5read import read_movie, require_dataset, zscore_in_place
from openretina_maheswaranathan_2023.layout import find_session_files

logger = logging.getLogger(__name__)


def load_stimuli_for_session(
    path: str | os.PathLike[str], normalize_stimuli: bool = True, store_dtype: str = "float32"
) -> MoviesTrainTestSplit:
    """Read one session file's train and test movies, each into one float32 ``(T, 1, 50, 50)`` buffer.

    With ``normalize_stimuli``, both are z-scored in place with one scalar mean/std of the train movie (the
    unbiased std), and the statistics are recorded in the container. ``store_dtype="published"`` keeps a
    movie published as uint8/int8/float16 in that dtype, its z-score folded into the array's map (the
    prepared store's compact storage; the float32 values are the same).
    """
    path = Path(path)
    with open_hdf5(path, SESSION_FILE_EXPECTED) as h5:
        train, moments = read_movie(
            require_dataset(h5, TRAIN_STIMULUS_KEY, path),
            path,
            moments=normalize_stimuli,
            store_dtype=store_dtype,
        )
        test, _ = read_movie(
            require_dataset(h5, TEST_STIMULUS_KEY, path), path, moments=False, store_dtype=store_dtype
        )
    if train.shape[2:] != test.shape[2:]:
        raise BadDataError(
            f"{path}: {TEST_STIMULUS_KEY!r} frames are {test.shape[2:]} but {TRAIN_STIMULUS_KEY!r} frames "
            f"are {train.shape[2:]}"
        )
    norm_mean = norm_std = None
    if moments is not None:
        norm_mean, norm_std = moments.mean, moments.std
        check_movie_moments(moments.count, norm_mean, norm_std, path, TRAIN_STIMULUS_KEY)
        for movie in (train, test):
            if movie.dtype == np.float32:  # compact movies keep their values: the z-score is their map
                zscore_in_place(movie, norm_mean, norm_std)
    logger.info(
        "%s: train movie %s, test movie %s (%.1f MB, %s)%s",
        path,
        train.shape,
        test.shape,
        (train.nbytes + test.nbytes) / 1e6,
        train.dtype,
        f", z-scored with mean {norm_mean:.4g} and std {norm_std:.4g}" if norm_std is not None else "",
    )
    # (T, 1, H, W) buffers viewed as (1, T, H, W): the dataloader builder uses them without copying.
    stimulus_map = StimulusMap.zscore(norm_mean, norm_std)

    def channel_major(movie: np.ndarray) -> np.ndarray:
        view = movie.transpose(1, 0, 2, 3)
        return view if movie.dtype == np.float32 else as_compact(view, stimulus_map)

    return MoviesTrainTestSplit(
        train=channel_major(train),
        test_dict={TEST_NAME: channel_major(test)},
        stim_id=path.stem,
        norm_mean=norm_mean,
        norm_std=norm_std,
    )


def load_all_stimuli(
    base_data_path: str | os.PathLike[str],
    stim_type: str = DEFAULT_STIM_TYPE,
    normalize_stimuli: bool = True,
    sessions: Iterable[str] | None = None,
) -> dict[str, MoviesTrainTestSplit]:
    """``{session: MoviesTrainTestSplit}`` for every session folder holding ``<stim_type>.h5``.

    ``base_data_path`` is the extracted ``neural_code_data/`` folder (holding ``ganglion_cell_data/``).
    Each session is z-scored with its own statistics when ``normalize_stimuli``.
    """
    files = find_session_files(base_data_path, stim_type, sessions)
    return {session: load_stimuli_for_session(path, normalize_stimuli) for session, path in files.items()}
