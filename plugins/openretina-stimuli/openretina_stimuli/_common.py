"""Shared conventions: shape checks, per-channel values, screen geometry, output allocation.

Screen geometry used by every generator: arrays are ``(channels, frames, height, width)``; row 0 is the top of
the screen and column 0 its left edge. Angles are in degrees, counter-clockwise on screen: 0 points toward
+width (right), 90 toward -row (up), 180 left, 270 down. A unit vector at angle ``a`` is therefore
``(d_col, d_row) = (cos a, -sin a)``. Positions are measured from the screen centre, ``((W-1)/2, (H-1)/2)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Shape = tuple[int, int, int, int]


def check_shape(shape: Any, name: str = "shape") -> Shape:
    """Return ``shape`` as four positive ints or raise a ValueError saying what was expected."""
    try:
        values = tuple(int(v) for v in shape)
        exact = all(float(v) == int(v) for v in shape)
    except (TypeError, ValueError):
        values, exact = (), False
    if len(values) != 4 or not exact or min(values) < 1:
        raise ValueError(
            f"{name} must be (channels, time, height, width) with four positive integers, received {shape!r}"
        )
    return values  # type: ignore[return-value]


def per_channel(value: float | Sequence[float], channels: int, name: str) -> np.ndarray:
    """Broadcast a scalar or a per-channel sequence to a ``(channels,)`` float64 vector."""
    array = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if array.ndim != 1 or array.size not in (1, channels):
        raise ValueError(
            f"{name} must be a number or {channels} values (one per channel), received {value!r}"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, received {value!r}")
    return np.broadcast_to(array, (channels,)).copy()


def positive(value: float, name: str, allow_zero: bool = False) -> float:
    """Check a positive (or non-negative) finite number and return it as float."""
    number = float(value)
    ok = number >= 0 if allow_zero else number > 0
    if not (np.isfinite(number) and ok):
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {bound} finite number, received {value!r}")
    return number


def allocate(shape: Shape, time_major: bool) -> np.ndarray:
    """An uninitialised float32 ``(C, T, H, W)`` array; a view of a ``(T, C, H, W)`` buffer if ``time_major``.

    The time-major layout is what openretina's dataloaders use without a copy.
    """
    c, t, h, w = shape
    if time_major:
        return np.empty((t, c, h, w), dtype=np.float32).transpose(1, 0, 2, 3)
    return np.empty((c, t, h, w), dtype=np.float32)


def fill_channels(
    pattern: np.ndarray, shape: Shape, offset: np.ndarray, scale: np.ndarray, time_major: bool
) -> np.ndarray:
    """``out[c] = offset[c] + scale[c] * pattern`` for a pattern broadcastable to ``(T, H, W)``."""
    out = allocate(shape, time_major)
    for c in range(shape[0]):  # one vectorised operation per channel
        np.multiply(pattern, np.float32(scale[c]), out=out[c], casting="unsafe")
        out[c] += np.float32(offset[c])
    return out


def unit_vector(angle_deg: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(d_col, d_row)`` of the screen direction ``angle_deg`` (0 = right, 90 = up)."""
    radians = np.deg2rad(np.asarray(angle_deg, dtype=np.float64))
    return np.cos(radians), -np.sin(radians)


def centred_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Column and row coordinates ``(1, W)`` and ``(H, 1)`` relative to the screen centre (pixels)."""
    cols = (np.arange(width, dtype=np.float64) - (width - 1) / 2.0)[None, :]
    rows = (np.arange(height, dtype=np.float64) - (height - 1) / 2.0)[:, None]
    return cols, rows


def frame_rate_for(
    n_frames: int, frame_rate: float | None, duration_s: float, what: str, multiple: int = 1
) -> float:
    """Infer the frame rate of a fixed-duration stimulus from its frame count, or check the given one."""
    if frame_rate is None:
        return n_frames / duration_s
    rate = positive(frame_rate, "frame_rate")
    expected = multiple * round(rate * duration_s / multiple)
    if expected != n_frames:
        raise ValueError(
            f"{what} lasts {duration_s:g} s: at frame_rate={rate:g} Hz it needs shape[1] = {expected} "
            f"frames, received {n_frames}. Pass shape[1]={expected}, or leave frame_rate=None to infer the "
            f"rate from the frame count."
        )
    return rate
