"""One session's data: its responses (through the prepared store), the movies of exactly its kept trials, and
the containers over them (time-major arrays viewed as ``(1, T, H, W)`` / ``(N, T)``: no copies)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from openretina_core import BadDataError
from openretina_core.data import MoviesTrainTestSplit, ResponsesTrainTestSplit
from openretina_sridhar_2025.constants import DATASET_ID, NATURAL_MOVIE, TEST_NAME, WN_FILE
from openretina_sridhar_2025.entries import RenderedMovie, prepared_movies
from openretina_sridhar_2025.layout import SessionFiles
from openretina_sridhar_2025.render import Geometry
from openretina_sridhar_2025.responses import SessionResponses
from openretina_sridhar_2025.stimuli import (
    movie_sources_natural,
    movie_sources_white_noise,
    natural_movie_params,
    natural_movie_plans,
    render_session_movies,
    white_noise_movies,
    white_noise_params,
)


def session_movies(
    files: SessionFiles,
    responses: SessionResponses,
    *,
    geometry: Geometry,
    test_frames: int,
    cache_maxsize: int,
    render_device: torch.device | None,
    use_store: bool,
    opened: dict[str, dict[str, np.ndarray]],
    store_dtype: str = "published",
    writes: dict[int, dict[str, RenderedMovie]] | None = None,
) -> dict[str, np.ndarray]:
    """The session's time-major movies of exactly its kept trials (mapped from the store when prepared;
    natural-movie frames of uint8 images stored as uint8 with ``store_dtype="published"``). With ``writes``,
    a natural movie not prepared yet is served rendered per batch while its entry is written in a thread
    (recorded in ``writes``, see ``entries.prepared_movies``)."""
    trials, fpt = responses.trials, responses.frames_per_trial
    if files.stim_type == NATURAL_MOVIE:
        assert files.fixations is not None and files.images is not None
        if responses.test.shape[0] != test_frames:
            raise BadDataError(
                f"{files.responses}: test responses have {responses.test.shape[0]} bins, but the test sequence "
                f"is the first {test_frames} lines of {files.fixations} (test_frames={test_frames})"
            )
        fixation_path, image_dir = files.fixations, files.images
        if not fixation_path.is_file():
            raise FileNotFoundError(
                f"session {files.session}: fixation file {str(fixation_path)!r} does not exist"
            )
        params = natural_movie_params(
            fixation_path, geometry, trials, responses.n_trials, fpt, test_frames, store_dtype
        )
        options: dict[str, Any] = {
            "trials": trials,
            "n_trials": responses.n_trials,
            "frames_per_trial": fpt,
            "test_frames": test_frames,
            "device": render_device,
        }
        return prepared_movies(
            f"movie-{fixation_path.stem}",
            params,
            movie_sources_natural(fixation_path, image_dir),
            lambda allocate: render_session_movies(
                fixation_path, image_dir, geometry, allocate=allocate, **options
            ),
            use_store=use_store,
            opened=opened,
            plans=lambda: natural_movie_plans(
                fixation_path, image_dir, geometry, compact=store_dtype == "published", **options
            ),
            writes=writes,
        )
    assert files.wn_train is not None and files.wn_test is not None
    train_dir, test_dir = files.wn_train, files.wn_test
    crop, subsample = geometry.retina_crop, geometry.subsample
    if not (test_dir / WN_FILE).is_file():
        raise FileNotFoundError(
            f"session {files.session}: test frames {str(test_dir / WN_FILE)!r} do not exist"
        )
    return prepared_movies(
        f"movie-{train_dir.name}",
        white_noise_params(train_dir, test_dir, trials, fpt, crop, subsample),
        movie_sources_white_noise(train_dir, test_dir, trials),
        lambda allocate: white_noise_movies(
            train_dir,
            test_dir,
            trials=trials,
            frames_per_trial=fpt,
            test_frames=responses.test.shape[0],
            crop=crop,
            subsample=subsample,
            cache_maxsize=cache_maxsize,
            allocate=allocate,
        ),
        use_store=use_store,
        opened=opened,
    )


def containers(
    session: str,
    stim_type: str,
    movies: dict[str, np.ndarray],
    responses: SessionResponses,
    extra: dict[str, Any],
) -> tuple[MoviesTrainTestSplit, ResponsesTrainTestSplit]:
    """The ``(1, T, H, W)`` / ``(N, T)`` views of the time-major arrays (no copies)."""
    stim_id = f"{DATASET_ID}_{stim_type}_{session}"
    movie_split = MoviesTrainTestSplit(
        train=movies["train"].transpose(1, 0, 2, 3),
        test_dict={TEST_NAME: movies["test"].transpose(1, 0, 2, 3)},
        stim_id=stim_id,
        norm_mean=0.0,  # not normalised (as openretina records it)
        norm_std=1.0,
    )
    by_trial = {TEST_NAME: responses.test_by_trial} if responses.test_by_trial is not None else {}
    response_split = ResponsesTrainTestSplit(
        train=responses.train.T,
        test_dict={TEST_NAME: responses.test.T},
        test_by_trial_dict=by_trial,
        stim_id=stim_id,
        session_kwargs={**responses.meta, **extra},
    )
    return movie_split, response_split
