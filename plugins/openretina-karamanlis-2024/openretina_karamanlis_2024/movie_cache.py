"""Where Karamanlis's derived files live, and the movie statistics used to z-score the composed movies.

Composed movies are entries of the core's prepared store (``openretina_core.store``): keyed by every parameter
that changes the frames and the source file's identity, composed straight into the entry's files, renamed into
place whole and mapped copy-on-write on every later load.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from openretina_karamanlis_2024.constants import DATASET_ID

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 16 << 20
MOVIES = ("train", "test")


def dataset_cache(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir`` or ``<openretina cache>/karamanlis_2024``: holds derived movies and extracted files."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from openretina_core.files import cache_root

    return cache_root() / DATASET_ID


def movie_stats(movie: np.ndarray) -> tuple[float, float]:
    """Scalar mean and unbiased std over every element, accumulated in float64 chunks (no float64 copy); NaN
    for an empty movie."""
    flat = movie.reshape(-1)
    step = _CHUNK_BYTES // 4
    total = 0.0
    for start in range(0, flat.size, step):
        total += float(flat[start : start + step].sum(dtype=np.float64))
    if flat.size == 0:
        return float("nan"), float("nan")  # no frames: the caller's check says so
    mean = total / flat.size
    squares = 0.0
    for start in range(0, flat.size, step):
        part = flat[start : start + step].astype(np.float64) - mean
        squares += float(np.dot(part, part))
    return mean, float(np.sqrt(squares / max(1, flat.size - 1)))
