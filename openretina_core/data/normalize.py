"""Z-scoring stimulus movies with one scalar mean and std taken from the train movie.

Statistics are accumulated in float64 over chunks, so a multi-GB movie needs no float64 copy; the std is the
unbiased estimate (as torch computes it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from openretina_core.data.containers import ArrayLike, as_float32

_CHUNK = 1 << 24


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


def zscore_movies_in_place(train: np.ndarray, test_dict: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """Z-score float32 ``train`` and every test movie *in place* with the train statistics; returns
    ``(mean, std)`` to record in the container (no copy of any movie is made)."""
    mean, std = movie_statistics(train)
    for movie in (train, *test_dict.values()):
        movie -= np.float32(mean)
        movie /= np.float32(std)
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
