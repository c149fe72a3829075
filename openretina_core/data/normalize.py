"""Z-scoring stimulus movies with one scalar mean and std taken from the train movie.

Statistics are accumulated in float64 over chunks, so a multi-GB movie needs no float64 copy; the std is the
unbiased estimate (as torch computes it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from openretina_core.data.containers import ArrayLike, as_float32
from openretina_core.registry.errors import BadDataError

_CHUNK = 1 << 24
_BLOCK_BYTES = 4 << 20  # z-score blocks small enough to stay in the CPU cache


def movie_statistics(train: np.ndarray) -> tuple[float, float]:
    """``(mean, unbiased std)`` of every value of ``train``; ``ValueError`` for a movie of fewer than two values,
    one with NaN or infinite values, or a constant one (each said as such)."""
    flat = np.asarray(train).reshape(-1)
    count = flat.size
    if count < 2:
        raise ValueError(f"cannot normalise a movie of {count} value(s)")
    total = 0.0
    for start in range(0, count, _CHUNK):
        total += float(flat[start : start + _CHUNK].astype(np.float64).sum())
    mean = total / count
    total_sq = 0.0
    for start in range(0, count, _CHUNK):
        part = flat[start : start + _CHUNK].astype(np.float64) - mean
        total_sq += float(np.dot(part, part))
    std = float(np.sqrt(total_sq / (count - 1)))
    if not (np.isfinite(mean) and np.isfinite(std)):
        raise ValueError("cannot normalise a movie with NaN or infinite values (the train movie has some)")
    if not std > 0:
        raise ValueError("cannot normalise a constant movie (train std is 0)")
    return mean, std


def zscore_in_place(movie: np.ndarray, mean: float, std: float) -> None:
    """``movie = (movie - mean) / std`` in place, in blocks along the first axis (no full-size temporary)."""
    if not std > 0:
        raise BadDataError(f"cannot z-score a constant movie (std {std})")
    m, s = np.float32(mean), np.float32(std)
    row_bytes = max(1, int(np.prod(movie.shape[1:], dtype=np.int64)) * movie.itemsize)
    step = max(1, _BLOCK_BYTES // row_bytes)
    for start in range(0, movie.shape[0] if movie.ndim else 1, step):
        block = movie[start : start + step] if movie.ndim else movie
        np.subtract(block, m, out=block)
        np.divide(block, s, out=block)


def zscore_movies_in_place(train: np.ndarray, test_dict: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """Z-score float32 ``train`` and every test movie *in place* with the train statistics; returns
    ``(mean, std)`` to record in the container (no copy of any movie is made)."""
    mean, std = movie_statistics(train)
    for movie in (train, *test_dict.values()):
        zscore_in_place(movie, mean, std)
    return mean, std


def normalize_train_test_movies(
    train: ArrayLike, test: ArrayLike | Mapping[str, ArrayLike]
) -> tuple[np.ndarray, Any, dict[str, float]]:
    """openretina's signature: z-scored float32 copies of ``train`` and ``test`` (one array, or a name -> array
    mapping) and ``{"norm_mean": ..., "norm_std": ...}`` of the train movie. The inputs are not modified."""
    train_out = np.array(as_float32(train), dtype=np.float32, copy=True)
    tests = dict(test) if isinstance(test, Mapping) else {"test": test}
    tests_out = {
        name: np.array(as_float32(movie), dtype=np.float32, copy=True) for name, movie in tests.items()
    }
    mean, std = zscore_movies_in_place(train_out, tests_out)
    test_out: Any = tests_out if isinstance(test, Mapping) else tests_out["test"]
    return train_out, test_out, {"norm_mean": mean, "norm_std": std}
