"""What values a stimulus or response file may hold: finite real numbers (NaN allowed in responses only).

Plugins call these on what they read, before anything is cast: a complex array cast to float32 silently loses
its imaginary part, a string array gives numpy's conversion error, and ``inf`` slips past a NaN check. Each
helper raises :class:`~openretina_core.registry.errors.BadFileError` naming the file and the key.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from openretina_core.registry.errors import BadFileError

_CHUNK = 1 << 22


def check_real_dtype(dtype: Any, path: str | os.PathLike[str], key: str) -> np.dtype[Any]:
    """``dtype`` if it holds real numbers (bool, integer or float); else a ``BadFileError`` naming ``key``."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_ or np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating):
        return dtype
    kind = "complex numbers" if np.issubdtype(dtype, np.complexfloating) else f"dtype {dtype}"
    raise BadFileError(path, f"key {key!r} holds {kind}", "real numbers (bool, integer or float)")


def surely_finite(part: np.ndarray) -> bool:
    """True when a finite sum proves every value of ``part`` finite (one pass, no temporary mask: ~3x faster
    than ``isnan`` and ``isinf``); False when NaN or inf may be there (or the sum overflowed): count then."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.add.reduce(part, axis=None)))


def count_nonfinite(array: np.ndarray) -> tuple[int, int]:
    """``(number of NaN, number of +-inf)`` in ``array``, read in bounded-memory chunks."""
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        return 0, 0
    flat = array.reshape(-1)
    n_nan = n_inf = 0
    for start in range(0, flat.size, _CHUNK):
        part = flat[start : start + _CHUNK]
        if surely_finite(part):
            continue
        n_nan += int(np.isnan(part).sum())
        n_inf += int(np.isinf(part).sum())
    return n_nan, n_inf


def nonfinite_mask(array: np.ndarray) -> np.ndarray:
    """Where ``array`` is NaN *or* infinite: what a NaN policy should treat as a missing value."""
    return ~np.isfinite(np.asarray(array))


def check_finite(
    array: np.ndarray, path: str | os.PathLike[str], key: str, *, allow_nan: bool = False
) -> np.ndarray:
    """``array`` unchanged if every value is finite (NaN too with ``allow_nan``, for responses whose missing
    values a NaN policy handles); else a ``BadFileError`` counting the NaN and infinite values of ``key``."""
    n_nan, n_inf = count_nonfinite(array)
    if n_inf or (n_nan and not allow_nan):
        found = ", ".join(
            f"{n} {what}"
            for n, what in ((n_nan, "NaN"), (n_inf, "infinite"))
            if n and (what != "NaN" or not allow_nan)
        )
        expected = "finite numbers or NaN (missing values)" if allow_nan else "finite numbers"
        raise BadFileError(path, f"key {key!r} holds {found} values", expected)
    return array


def check_movie_moments(count: int, mean: float, std: float, path: str | os.PathLike[str], key: str) -> None:
    """The statistics a z-score divides by: some values, finite, not constant (each its own message)."""
    if count == 0:
        raise BadFileError(path, f"key {key!r} has no frames (zero values)", "a movie of at least one frame")
    if not (np.isfinite(mean) and np.isfinite(std)):
        raise BadFileError(path, f"key {key!r} contains NaN or infinite values", "finite numbers")
    if count < 2 or not std > 0:
        raise BadFileError(
            path,
            f"key {key!r} is constant (std {std:g} over {count} values); it cannot be z-scored",
            "a movie whose values vary (or normalize_stimuli=False)",
        )
