"""Flashed images of the Goldin 2022 sessions, as ``{session: MoviesTrainTestSplit}``.

The image index plays the role of time: a session's images become a ``(1, N_img, H, W)`` movie (the view of
an image-major ``(N_img, 1, H, W)`` float32 buffer, which the loaders use without copying).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from openretina_core import BadDataError
from openretina_core.data import MoviesTrainTestSplit, check_movie_moments, open_hdf5
from openretina_goldin_2022.constants import (
    DEFAULT_STIM_TYPE,
    SESSION_FILE_EXPECTED,
    TEST_NAME,
    TEST_STIMULUS_KEY,
    TRAIN_STIMULUS_KEY,
)
from openretina_goldin_2022.h5read import read_images, require_dataset, zscore_in_place
from openretina_goldin_2022.layout import check_stim_type, find_session_files, resolve_species

logger = logging.getLogger(__name__)


def load_stimuli_for_session(
    path: str | os.PathLike[str], normalize_stimuli: bool = True, stim_type: str = DEFAULT_STIM_TYPE
) -> MoviesTrainTestSplit:
    """One session file's train and test images as ``(1, N_img, H, W)`` float32 movies.

    With ``normalize_stimuli`` both are z-scored in place with one scalar mean and (unbiased) std of the
    train images, recorded as ``norm_mean``/``norm_std``.
    """
    check_stim_type(stim_type)
    path = Path(path)
    with open_hdf5(path, SESSION_FILE_EXPECTED) as h5:
        train, moments = read_images(
            require_dataset(h5, TRAIN_STIMULUS_KEY, path), path, moments=normalize_stimuli
        )
        test, _ = read_images(require_dataset(h5, TEST_STIMULUS_KEY, path), path, moments=False)
    if train.shape[2:] != test.shape[2:]:
        raise BadDataError(
            f"{path}: {TEST_STIMULUS_KEY!r} images are {test.shape[2:]} pixels but {TRAIN_STIMULUS_KEY!r} "
            f"images are {train.shape[2:]}; expected the same size"
        )
    norm_mean = norm_std = None
    if moments is not None:
        norm_mean, norm_std = moments.mean, moments.std
        check_movie_moments(moments.count, norm_mean, norm_std, path, TRAIN_STIMULUS_KEY)
        zscore_in_place(train, norm_mean, norm_std)
        zscore_in_place(test, norm_mean, norm_std)
    logger.info(
        "%s: %d train and %d test images of %dx%d (%.1f MB float32)%s",
        path,
        train.shape[0],
        test.shape[0],
        train.shape[2],
        train.shape[3],
        (train.nbytes + test.nbytes) / 1e6,
        f", z-scored with mean {norm_mean:.4g} and std {norm_std:.4g}" if norm_std is not None else "",
    )
    return MoviesTrainTestSplit(
        train=train.transpose(1, 0, 2, 3),
        test_dict={TEST_NAME: test.transpose(1, 0, 2, 3)},
        stim_id=stim_type,
        norm_mean=norm_mean,
        norm_std=norm_std,
    )


def load_all_stimuli(
    base_data_path: str | os.PathLike[str],
    stim_type: str = DEFAULT_STIM_TYPE,
    species: str | None = None,
    normalize_stimuli: bool = True,
    sessions: Iterable[str] | None = None,
    *,
    specie: str | None = None,
) -> dict[str, MoviesTrainTestSplit]:
    """``{session: MoviesTrainTestSplit}`` for every ``species`` session file in ``base_data_path``.

    ``species``: ``"mouse"`` (default) or ``"axolotl"`` (``specie=``, openretina's spelling, works too).
    Each session is z-scored with its own statistics when ``normalize_stimuli``.
    """
    check_stim_type(stim_type)
    files = find_session_files(base_data_path, resolve_species(species, specie), sessions)
    return {
        session: load_stimuli_for_session(path, normalize_stimuli, stim_type)
        for session, path in files.items()
    }
