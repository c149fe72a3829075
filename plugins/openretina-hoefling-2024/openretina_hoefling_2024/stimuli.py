"""The natural movie shared by every field: one time-major float32 buffer, loaded safely from the pickle.

The published pickle holds ``train (2, 16200, H, W)`` (108 clips in canonical order), ``test (2, 750, H, W)``,
optionally ``random_sequences (108, n_sequences)`` (column k: the clip shown at each position in stimulus
version k) and ``movie_stats``. Train and test are copied once into one ``(T_train + T_test, C, H, W)``
buffer; the container's movies are ``(C, T, H, W)`` views of it, so the loaders use it without a copy. The
movie is already normalised by the authors ("joint_normalized") and is not normalised again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from openretina_core import BadDataError, BadFileError
from openretina_core.data import (
    MissingKeyError,
    MoviesTrainTestSplit,
    check_finite,
    check_real_dtype,
    load_pickle,
)
from openretina_hoefling_2024 import constants as c
from openretina_hoefling_2024.files import locate_stimulus

logger = logging.getLogger(__name__)


def _movie_stat(stats: Any, key: str) -> float | None:
    """``movie_stats["dichromatic"][key]`` as a float, or ``None`` when absent."""
    try:
        value = stats["dichromatic"][key]
    except (KeyError, TypeError, IndexError):
        return None
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    return float(array[0]) if array.size and np.isfinite(array[0]) else None


def _check_movie(name: str, movie: Any, source: Path) -> np.ndarray:
    if not isinstance(movie, np.ndarray) or movie.ndim != 4:
        shape = getattr(movie, "shape", type(movie).__name__)
        raise BadDataError(
            f"{source}: key {name!r}: expected an array (channels, time, height, width), got {shape}"
        )
    check_real_dtype(movie.dtype, source, name)  # complex would lose its imaginary part in float32
    if movie.shape[1] == 0:
        raise BadFileError(source, f"key {name!r} has no frames (shape {movie.shape})", "at least one frame")
    return check_finite(movie, source, name)


def _time_major(content: Mapping[str, Any], source: Path) -> tuple[np.ndarray, int, dict[str, Any]]:
    """Copy train and test into one ``(T_train + T_test, C, H, W)`` float32 buffer; return it, T_train and
    the small entries (sequences, statistics), so the caller can drop the pickle before anything else."""
    for key in ("train", "test"):
        if key not in content:
            raise MissingKeyError(
                source, key, f"the stimulus file has no {key!r} entry; keys are {sorted(map(str, content))}"
            )
    train = _check_movie("train", content["train"], source)
    test = _check_movie("test", content["test"], source)
    if train.shape[0] != test.shape[0] or train.shape[2:] != test.shape[2:]:
        raise BadDataError(
            f"{source}: train {train.shape} and test {test.shape} differ in channels or height x width"
        )
    channels, t_train, height, width = train.shape
    buffer = np.empty((t_train + test.shape[1], channels, height, width), dtype=np.float32)
    buffer[:t_train] = train.transpose(1, 0, 2, 3)
    buffer[t_train:] = test.transpose(1, 0, 2, 3)
    sequences = content.get("random_sequences")
    if sequences is not None:
        sequences = np.asarray(sequences).astype(np.int64)
        if sequences.ndim == 1:
            sequences = sequences[:, None]
    stats = content.get("movie_stats")
    small = {
        "random_sequences": sequences,
        "norm_mean": _movie_stat(stats, "mean"),
        "norm_std": _movie_stat(stats, "sd"),
    }
    return buffer, t_train, small


def _container(buffer: np.ndarray, t_train: int, small: dict[str, Any]) -> MoviesTrainTestSplit:
    return MoviesTrainTestSplit(
        train=buffer[:t_train].transpose(1, 0, 2, 3),
        test_dict={c.TEST_NAME: buffer[t_train:].transpose(1, 0, 2, 3)},
        stim_id=c.NATURAL_STIM_ID,
        **small,
    )


def movies_from_dict(content: Mapping[str, Any], source: str | Path = "<dict>") -> MoviesTrainTestSplit:
    """Build the shared container from the pickle's dictionary (train/test copied once into one buffer)."""
    return _container(*_time_major(content, Path(source)))


def load_movies(path: str | Path, sha256: str | None = None) -> MoviesTrainTestSplit:
    """Read one stimulus pickle (hash-checked when a hash is known, restricted unpickler always).

    The unpickled arrays are views of the bytes read from the file; they are dropped as soon as the movie
    is in its float32 buffer, so the peak is about two copies of the movie, not three.
    """
    path = Path(path)
    expected = sha256 if sha256 is not None else c.KNOWN_SHA256.get(path.name)
    content = load_pickle(path, sha256=expected)
    if not isinstance(content, Mapping):
        raise BadFileError(path, f"holds a {type(content).__name__}", "a dictionary with 'train' and 'test'")
    buffer, t_train, small = _time_major(content, path)
    del content
    movies = _container(buffer, t_train, small)
    logger.info("loaded %s: train %s, test %s", path.name, movies.train.shape, movies.test.shape)
    return movies


def get_all_movies(
    path: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    resolution: str = "18x16",
    sha256: str | None = None,
) -> MoviesTrainTestSplit:
    """The Höfling 2024 natural movie, shared by all sessions.

    ``path``: the pickle itself or a folder holding the published layout; ``data_dir``: such a folder;
    neither: the cache (``download=True`` fetches the ``resolution`` archive). ``resolution`` is "18x16"
    (the published model's input) or "72x64".
    """
    file = locate_stimulus(path=path, data_dir=data_dir, download=download, resolution=resolution)
    return load_movies(file, sha256=sha256)
