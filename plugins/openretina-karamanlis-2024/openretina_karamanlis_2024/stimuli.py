"""Stimuli: each session's fixation movies, composed (or mapped from the core's prepared store), z-scored.

Movies are built time-major, ``(T, 1, H, W)`` float32, and handed to the container as the ``(1, T, H, W)``
view, so the dataloaders use them without a copy; z-scoring happens in place.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openretina_core import BadDataError
from openretina_core.data import (
    MissingKeyError,
    MoviesTrainTestSplit,
    check_finite,
    check_movie_moments,
    check_real_dtype,
    open_hdf5,
    zscore_in_place,
)
from openretina_karamanlis_2024.compose import FixationComposer
from openretina_karamanlis_2024.constants import (
    CACHE_FORMAT_VERSION,
    DATASET_ID,
    DEFAULT_TARGET_SIZE,
    FIXATION_SCREEN_PIXEL,
    KEY_FROZEN_FIXATIONS,
    KEY_FROZEN_IMAGES,
    KEY_RUNNING_FIXATIONS,
    KEY_RUNNING_IMAGES,
    SCREEN_SHAPE,
    TEST_NAME,
)
from openretina_karamanlis_2024.layout import SessionFile, default_extract_root, find_session_files
from openretina_karamanlis_2024.movie_cache import dataset_cache, movie_stats

logger = logging.getLogger(__name__)


def open_mat(path: Path) -> Any:
    """``with open_mat(path) as handle:`` a MATLAB v7.3 file (HDF5) opened with h5py; a damaged file or an older
    MATLAB format is a ``BadFileError`` naming it."""
    return open_hdf5(path, "a MATLAB v7.3 (HDF5) file; older .mat formats are not supported")


def read_key(handle: Any, key: str, path: Path) -> Any:
    if key not in handle:
        raise MissingKeyError(path, key, f"dataset {key!r} is missing; the file has {sorted(handle.keys())}")
    dataset = handle[key]
    check_real_dtype(dataset.dtype, path, key)  # complex would lose its imaginary part, strings fail in numpy
    return dataset


def _fixations(dataset: Any, blocks: bool, path: Path) -> np.ndarray:
    """``(frames, 3)`` fixations; training blocks are concatenated in file order.

    MATLAB drops trailing singleton dimensions, so one block (or one frame) is stored with fewer axes.
    """
    array = np.asarray(dataset[()], dtype=np.float64)
    expected = "(n_blocks, n_frames, 3)" if blocks else "(n_frames, 3)"
    if array.ndim == 1 and array.shape[0] == 3:
        array = array[None]
    if array.ndim not in (2, 3) or array.shape[-1] != 3 or (array.ndim == 3 and not blocks):
        raise BadDataError(f"{path}: {dataset.name.lstrip('/')} has shape {array.shape}, expected {expected}")
    return array.reshape(-1, 3)


def _images(dataset: Any, path: Path) -> Any:
    if dataset.ndim == 2:  # a single image: MATLAB dropped the trailing n_img axis
        return np.asarray(dataset[()])[None]
    if dataset.ndim != 3:
        raise BadDataError(
            f"{path}: {dataset.name.lstrip('/')} has shape {dataset.shape}, expected (n_img, Nx, Ny)"
        )
    return dataset


def compose_session(
    file: SessionFile,
    composer: FixationComposer,
    allocate: Callable[[dict[str, tuple[int, ...]]], dict[str, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Raw (not normalised) time-major train and test movies ``(T, 1, H, W)`` of one session, composed into
    the arrays ``allocate(shapes)`` returns (new in-memory arrays by default)."""
    height, width = composer.target_size
    with open_mat(file.path) as handle:
        running = _fixations(read_key(handle, KEY_RUNNING_FIXATIONS, file.path), True, file.path)
        frozen = _fixations(read_key(handle, KEY_FROZEN_FIXATIONS, file.path), False, file.path)
        blocks = handle[KEY_RUNNING_FIXATIONS].shape[0] if handle[KEY_RUNNING_FIXATIONS].ndim == 3 else 1
        shapes: dict[str, tuple[int, ...]] = {
            "train": (int(running.shape[0]), 1, height, width),
            "test": (int(frozen.shape[0]), 1, height, width),
        }
        movies = (
            allocate(shapes)
            if allocate is not None
            else {name: np.empty(shape, dtype=np.float32) for name, shape in shapes.items()}
        )
        composer.compose(
            _images(read_key(handle, KEY_RUNNING_IMAGES, file.path), file.path),
            running,
            movies["train"].reshape(-1, height, width),
            desc=f"{file.session}: training movie",
            where=f"{file.path}:{KEY_RUNNING_FIXATIONS}",
        )
        composer.compose(
            _images(read_key(handle, KEY_FROZEN_IMAGES, file.path), file.path),
            frozen,
            movies["test"].reshape(-1, height, width),
            desc=f"{file.session}: test movie",
            where=f"{file.path}:{KEY_FROZEN_FIXATIONS}",
        )
    return movies["train"], movies["test"], {"running_blocks": int(blocks)}


def _checked_stats(train: np.ndarray, test: np.ndarray, path: Path, normalize: bool) -> tuple[float, float]:
    """The train movie's ``(mean, std)``; no frames, NaN or infinite pixels (and, to z-score, a constant movie)
    are a ``BadFileError`` naming the file, never "a constant movie" for NaN images."""
    mean, std = movie_stats(train)
    check_movie_moments(train.size, mean, std if normalize else 1.0, path, KEY_RUNNING_IMAGES)
    check_finite(test, path, KEY_FROZEN_IMAGES)
    return mean, std


def cache_params(stim_type: str, target_size: Sequence[int], normalized: bool) -> dict[str, Any]:
    """Every parameter that changes the stored frames (part of the cache key)."""
    return {
        "stim_type": stim_type,
        "target_size": [int(target_size[0]), int(target_size[1])],
        "screen": list(SCREEN_SHAPE),
        "fixation_pixel": list(FIXATION_SCREEN_PIXEL),
        "resize": "bilinear, antialias, align_corners=False (torch)",
        "normalized": bool(normalized),
    }


def load_session_stimuli(
    file: SessionFile,
    stim_type: str,
    composer: FixationComposer,
    *,
    normalize_stimuli: bool = True,
    cache: Path | None = None,
    use_cache: bool = True,
) -> MoviesTrainTestSplit:
    """One session's movies: mapped from the core's prepared store when an entry for these parameters and this
    source file exists, else composed straight into a new entry's files (z-scored there when
    ``normalize_stimuli``). A store that cannot be written never stops loading (the movies stay in memory).
    ``use_cache=False`` composes in memory and writes nothing."""
    from openretina_core.store import prepare_entry

    cache = cache if cache is not None else dataset_cache()
    if not use_cache:
        train, test, _ = compose_session(file, composer)
        mean, std = _checked_stats(train, test, file.path, normalize_stimuli)
        if normalize_stimuli:
            for movie in (train, test):
                zscore_in_place(movie, mean, std)
        return _container({"train": train, "test": test}, stim_type, normalize_stimuli, mean, std)

    def build(writer: Any) -> None:
        def allocate(shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
            return {name: writer.allocate(name, shape, np.float32) for name, shape in shapes.items()}

        train, test, extra = compose_session(file, composer, allocate)
        mean, std = _checked_stats(train, test, file.path, normalize_stimuli)
        if normalize_stimuli:
            for movie in (train, test):
                zscore_in_place(movie, mean, std)
        writer.user_meta.update({"train_mean": mean, "train_std": std, **extra})

    entry = prepare_entry(
        DATASET_ID,
        file.session,
        params=cache_params(stim_type, composer.target_size, normalize_stimuli),
        sources=[file.path],
        build=build,
        version=CACHE_FORMAT_VERSION,
        dataset_root=cache,
    )
    stats = entry.user_meta
    movies = {"train": entry["train"], "test": entry["test"]}
    return _container(
        movies, stim_type, normalize_stimuli, float(stats["train_mean"]), float(stats["train_std"])
    )


def _container(
    movies: dict[str, np.ndarray], stim_type: str, normalized: bool, mean: float, std: float
) -> MoviesTrainTestSplit:
    """The ``(1, T, H, W)`` views of the time-major movies."""
    return MoviesTrainTestSplit(
        train=movies["train"].transpose(1, 0, 2, 3),
        test_dict={TEST_NAME: movies["test"].transpose(1, 0, 2, 3)},
        stim_id=stim_type,
        norm_mean=mean if normalized else None,
        norm_std=std if normalized else None,
    )


def make_composer(target_size: Sequence[int], device: str | torch.device | None) -> FixationComposer:
    """CPU unless ``device`` is given; then the device the core's device hook chooses for it."""
    chosen = None
    if device is not None:
        from openretina_core.data import resolve_device

        chosen = resolve_device(device)
    return FixationComposer(target_size, device=chosen)


def stimuli_for_files(
    files: Sequence[SessionFile],
    stim_type: str,
    *,
    target_size: Sequence[int] = DEFAULT_TARGET_SIZE,
    normalize_stimuli: bool = True,
    device: str | torch.device | None = None,
    cache: Path | None = None,
    use_cache: bool = True,
) -> dict[str, MoviesTrainTestSplit]:
    composer = make_composer(target_size, device)
    return {
        f.session: load_session_stimuli(
            f, stim_type, composer, normalize_stimuli=normalize_stimuli, cache=cache, use_cache=use_cache
        )
        for f in files
    }


def load_all_stimuli(
    base_data_path: str | os.PathLike[str],
    species: str = "mouse",
    stim_type: str = "fixationmovie",
    target_size: Sequence[int] = DEFAULT_TARGET_SIZE,
    normalize_stimuli: bool = True,
    device: str | torch.device | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> dict[str, MoviesTrainTestSplit]:
    """``{session: MoviesTrainTestSplit}`` for every ``species`` session under ``base_data_path``.

    ``base_data_path`` is the folder holding ``sessions/`` (or the ``sessions`` folder itself). Train movies
    are ``(1, T_train, H, W)`` (running blocks concatenated), the test movie ``(1, T_test, H, W)`` under
    ``"test"``; both z-scored with the train movie's scalar mean/std when ``normalize_stimuli``. ``device``
    composes on that device (e.g. ``"cuda"``); composed movies are cached under ``cache_dir`` (default: the
    openretina cache) unless ``use_cache`` is false.
    """
    cache = dataset_cache(cache_dir)
    files = find_session_files(base_data_path, species, stim_type, default_extract_root(cache))
    return stimuli_for_files(
        files,
        stim_type,
        target_size=target_size,
        normalize_stimuli=normalize_stimuli,
        device=device,
        cache=cache,
        use_cache=use_cache,
    )
