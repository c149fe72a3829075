"""Goldin sessions through the core's prepared store: each session file is read once, then mapped.

The entry of a session holds its train and test images (time-major, in the published dtype when that is
uint8/int8/float16, with the z-score as the movie's map to float32; else z-scored float32), its responses and
its single test trials. Its key covers every option that changes those arrays (``response_type``,
``fr_normalization``, ``normalize_stimuli``, ``check_repeats``, ``store_dtype``, ``stim_type``), the session
file's identity (path, size, modification time) and :data:`STORE_VERSION`. The species only selects which
files are sessions, so it is covered by the file's identity.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from openretina_core import BadDataError
from openretina_core.data import (
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    StimulusMap,
    as_compact,
    check_movie_moments,
    open_hdf5,
    read_frames_published,
)
from openretina_core.store import prepared_session
from openretina_goldin_2022.constants import (
    DATASET_ID,
    SESSION_FILE_EXPECTED,
    TEST_NAME,
    TEST_STIMULUS_KEY,
    TRAIN_STIMULUS_KEY,
)
from openretina_goldin_2022.h5read import require_dataset, zscore_in_place
from openretina_goldin_2022.layout import find_session_files
from openretina_goldin_2022.responses import load_responses_for_session

logger = logging.getLogger(__name__)

# Bump when what the readers return changes: entries of another version are never served.
STORE_VERSION = 1


def _movie(frames: np.ndarray, stimulus_map: StimulusMap | None) -> np.ndarray:
    """``(N, 1, H, W)`` frames as the container's ``(1, N, H, W)`` view: compact with the map when the frames
    are narrow, else float32 z-scored in place with the map's values (the in-memory reader's operations)."""
    movie = frames.transpose(1, 0, 2, 3)
    if frames.dtype != np.float32:
        return as_compact(movie, stimulus_map or StimulusMap.identity())
    if stimulus_map is not None:
        zscore_in_place(frames, stimulus_map.subtract[0], stimulus_map.divide[0])
    return movie


def load_stimuli_published(
    path: str | os.PathLike[str],
    normalize_stimuli: bool = True,
    stim_type: str = "naturalscene",
    store_dtype: str = "published",
) -> MoviesTrainTestSplit:
    """One session file's images as ``load_stimuli_for_session`` reads them, except that images published as
    uint8/int8/float16 stay in that dtype (a compact movie whose decoded values equal the float32 reader's bit
    for bit) unless ``store_dtype="float32"``."""
    path = Path(path)
    with open_hdf5(path, SESSION_FILE_EXPECTED) as h5:
        train_set = require_dataset(h5, TRAIN_STIMULUS_KEY, path)
        test_set = require_dataset(h5, TEST_STIMULUS_KEY, path)
        expected = "(images, height, width)"
        train, moments = read_frames_published(
            train_set, path, moments=normalize_stimuli, store_dtype=store_dtype, expected=expected
        )
        test, _ = read_frames_published(
            test_set, path, moments=False, store_dtype=store_dtype, expected=expected
        )
    if train.shape[2:] != test.shape[2:]:
        raise BadDataError(
            f"{path}: {TEST_STIMULUS_KEY!r} images are {test.shape[2:]} pixels but {TRAIN_STIMULUS_KEY!r} "
            f"images are {train.shape[2:]}; expected the same size"
        )
    norm_mean = norm_std = None
    stimulus_map = None
    if moments is not None:
        norm_mean, norm_std = moments.mean, moments.std
        check_movie_moments(moments.count, norm_mean, norm_std, path, TRAIN_STIMULUS_KEY)
        stimulus_map = StimulusMap.zscore(norm_mean, norm_std)
    logger.info("%s: images stored %s (train) and %s (test)", path, train.dtype, test.dtype)
    return MoviesTrainTestSplit(
        train=_movie(train, stimulus_map),
        test_dict={TEST_NAME: _movie(test, stimulus_map)},
        stim_id=stim_type,
        norm_mean=norm_mean,
        norm_std=norm_std,
    )


def prepared_sessions(
    root: Path,
    *,
    species: str,
    response_type: str,
    stim_type: str,
    fr_normalization: float,
    normalize_stimuli: bool,
    sessions: Iterable[str] | None,
    check_repeats: bool,
    store_dtype: str,
) -> tuple[dict[str, MoviesTrainTestSplit], dict[str, ResponsesTrainTestSplit]]:
    """``({session: movies}, {session: responses})`` of every ``species`` session file in ``root``, each read
    once into the prepared store and mapped from it afterwards (responses are read first: their checks fail
    before the images are read)."""
    params = {
        "response_type": response_type,
        "stim_type": stim_type,
        "fr_normalization": float(fr_normalization),
        "normalize_stimuli": bool(normalize_stimuli),
        "check_repeats": bool(check_repeats),
        "store_dtype": store_dtype,
    }
    movies: dict[str, MoviesTrainTestSplit] = {}
    responses: dict[str, ResponsesTrainTestSplit] = {}
    for session, path in find_session_files(root, species, sessions).items():

        def read(path: Path = path, session: str = session) -> tuple[Any, Any]:
            session_responses = load_responses_for_session(
                path,
                response_type,
                fr_normalization,
                session=session,
                check_repeats=check_repeats,
                stim_type=stim_type,
            )
            session_movies = load_stimuli_published(path, normalize_stimuli, stim_type, store_dtype)
            return session_movies, session_responses

        movie, response = prepared_session(
            DATASET_ID, session, params=params, sources=[path], read=read, version=STORE_VERSION
        )
        if movie is None or response is None:
            raise BadDataError(f"{path}: the prepared session lacks its images or responses")
        movies[session], responses[session] = movie, response
    return movies, responses
