"""Stimuli: each session's fixation movies, composed (or read from the cache) and z-scored per session.

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

from openretina_core.data import MoviesTrainTestSplit
from openretina_karamanlis_2024.compose import FixationComposer
from openretina_karamanlis_2024.constants import (
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
from openretina_karamanlis_2024.movie_cache import (
    PendingEntry,
    dataset_cache,
    entry_dir,
    entry_key,
    movie_stats,
    normalize_in_place,
    open_entry,
    read_meta,
)

logger = logging.getLogger(__name__)


def open_mat(path: Path) -> Any:
    """Open a MATLAB v7.3 file (HDF5) with h5py, with a clear error for older MATLAB formats."""
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(
            f"{path} is not readable as a MATLAB v7.3 (HDF5) file ({exc}); older .mat formats are not supported"
        ) from exc


def read_key(handle: Any, key: str, path: Path) -> Any:
    if key not in handle:
        raise KeyError(f"{path}: dataset {key!r} is missing; the file has {sorted(handle.keys())}")
    return handle[key]


def _fixations(dataset: Any, blocks: bool, path: Path) -> np.ndarray:
    """``(frames, 3)`` fixations; training blocks are concatenated in file order.

    MATLAB drops trailing singleton dimensions, so one block (or one frame) is stored with fewer axes.
    """
    array = np.asarray(dataset[()], dtype=np.float64)
    expected = "(n_blocks, n_frames, 3)" if blocks else "(n_frames, 3)"
    if array.ndim == 1 and array.shape[0] == 3:
        array = array[None]
    if array.ndim not in (2, 3) or array.shape[-1] != 3 or (array.ndim == 3 and not blocks):
        raise ValueError(f"{path}: {dataset.name.lstrip('/')} has shape {array.shape}, expected {expected}")
    return array.reshape(-1, 3)


def _images(dataset: Any, path: Path) -> Any:
    if dataset.ndim == 2:  # a single image: MATLAB dropped the trailing n_img axis
        return np.asarray(dataset[()])[None]
    if dataset.ndim != 3:
        raise ValueError(
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
        shapes = {"train": (running.shape[0], 1, height, width), "test": (frozen.shape[0], 1, height, width)}
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
    """One session's movies: from the cache when its key matches, else composed (and cached). Cached movies
    are stored as they are returned (z-scored when ``normalize_stimuli``) and mapped copy-on-write."""
    cache = cache if cache is not None else dataset_cache()
    params = cache_params(stim_type, composer.target_size, normalize_stimuli)
    identity = file.identity()
    key = entry_key(params, identity)
    folder = entry_dir(cache, file.session, params, key)
    meta = read_meta(folder, key) if use_cache else None
    movies = _open_cached(folder, meta) if meta is not None else None
    if meta is not None and movies is not None:
        logger.info("%s: composed movies from the cache %s", file.session, folder)
        mean, std = float(meta["train_mean"]), float(meta["train_std"])
    else:
        movies, mean, std = _compose_and_cache(
            file, composer, params, identity, key, folder, normalize_stimuli, use_cache
        )
    return MoviesTrainTestSplit(
        train=movies["train"].transpose(1, 0, 2, 3),
        test_dict={TEST_NAME: movies["test"].transpose(1, 0, 2, 3)},
        stim_id=stim_type,
        norm_mean=mean if normalize_stimuli else None,
        norm_std=std if normalize_stimuli else None,
    )


def _compose_and_cache(
    file: SessionFile,
    composer: FixationComposer,
    params: dict[str, Any],
    identity: dict[str, Any],
    key: str,
    folder: Path,
    normalize_stimuli: bool,
    use_cache: bool,
) -> tuple[dict[str, np.ndarray], float, float]:
    """Compose the movies (into the new cache entry's files when caching), z-score them when asked, commit the
    entry and hand back its copy-on-write mapping. A cache that cannot be written never stops loading."""
    pending: list[PendingEntry] = []

    def allocate(shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        if use_cache:
            try:
                pending.append(PendingEntry(folder, shapes))
                return pending[0].movies
            except OSError as exc:
                logger.warning("%s: cannot cache the composed movies in %s: %s", file.session, folder, exc)
        return {name: np.empty(shape, dtype=np.float32) for name, shape in shapes.items()}

    try:
        train, test, extra = compose_session(file, composer, allocate)
        mean, std = movie_stats(train)
        if normalize_stimuli:
            normalize_in_place([train, test], mean, std)
        if not pending:
            return {"train": train, "test": test}, mean, std
        meta = {
            "params": params,
            "source": identity,
            "session": file.session,
            "shapes": {"train": list(train.shape), "test": list(test.shape)},
            "train_mean": mean,
            "train_std": std,
            **extra,
        }
        try:
            pending[0].commit(key, meta)
        except OSError as exc:
            logger.warning("%s: could not cache the composed movies in %s: %s", file.session, folder, exc)
            movies = {"train": np.array(train), "test": np.array(test)}
            pending[0].discard()
            return movies, mean, std
        del train, test  # the writable mappings: callers get copy-on-write ones
    except BaseException:
        for entry in pending:
            entry.discard()
        raise
    movies = _open_cached(folder, meta)
    if movies is None:
        raise RuntimeError(f"{folder}: the cache entry just written cannot be read back")
    return movies, mean, std


def _open_cached(folder: Path, meta: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """The cached movies, or None (with a warning) when the entry is damaged."""
    try:
        return open_entry(folder, meta)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring the damaged cache entry %s (%s); composing again", folder, exc)
        return None


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
