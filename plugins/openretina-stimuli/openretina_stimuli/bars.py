"""Moving bars: one bar in any direction, and the standard 8-direction protocol.

The bar is a rectangle ``width`` pixels along its motion and ``length`` pixels across it (``None`` spans the
screen). Pixels on its edge take the covered fraction of the pixel along each bar axis (``antialias=True``),
so sub-pixel motion is smooth and the bar's centroid moves at exactly ``speed``. Directions follow the
screen convention of ``openretina_stimuli._common``: 0 = toward +width (right), 90 = toward -row (up).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from openretina_stimuli._common import (
    Shape,
    centred_grid,
    check_shape,
    fill_channels,
    frame_rate_for,
    per_channel,
    positive,
    unit_vector,
)
from openretina_stimuli.constants import MOVING_BAR_DIRECTIONS_DEG, MOVING_BAR_SEGMENT_S


def half_extent(height: int, width: int, direction_deg: float | np.ndarray) -> np.ndarray:
    """Half the screen's extent (pixels, edge to edge) along a direction: where a bar starts to be visible."""
    d_col, d_row = unit_vector(direction_deg)
    return width / 2.0 * np.abs(d_col) + height / 2.0 * np.abs(d_row)


def _coverage(distance: np.ndarray, half_size: float, antialias: bool) -> np.ndarray:
    """Fraction of each unit pixel (centred at ``distance``) inside ``[-half_size, half_size]``."""
    if not antialias:
        return (np.abs(distance) < half_size).astype(np.float32)
    inside = np.minimum(distance + 0.5, half_size) - np.maximum(distance - 0.5, -half_size)
    return np.clip(inside, 0.0, 1.0, out=inside)


def bar_pattern(
    height: int,
    width: int,
    directions: np.ndarray,
    positions: np.ndarray,
    bar_width: float,
    bar_length: float | None,
    offset: float = 0.0,
    antialias: bool = True,
) -> np.ndarray:
    """Bar coverage in [0, 1], float32 ``(D * F, H, W)``.

    ``positions (D, F)``: the bar centre's distance (pixels) from the screen centre along each direction.
    """
    d_col, d_row = unit_vector(directions)  # (D,)
    cols, rows = centred_grid(height, width)
    along = (cols[None] * d_col[:, None, None] + rows[None] * d_row[:, None, None]).astype(np.float32)
    distance = along[:, None] - positions.astype(np.float32)[:, :, None, None]  # (D, F, H, W)
    pattern = _coverage(distance, bar_width / 2.0, antialias)
    if bar_length is not None:
        across = cols[None] * d_row[:, None, None] - rows[None] * d_col[:, None, None] - offset
        pattern *= _coverage(across.astype(np.float32), bar_length / 2.0, antialias)[:, None]
    return pattern.reshape(-1, height, width)


def _check_bar(width: float, length: float | None) -> tuple[float, float | None]:
    bar_width = positive(width, "width")
    bar_length = None if length is None else positive(length, "length")
    return bar_width, bar_length


def generate_moving_bar(
    shape: Sequence[int] = (1, 30, 16, 16),
    width: float = 2.0,
    speed: float = 1.0,
    direction: float = 0.0,
    length: float | None = None,
    bar_intensity: float | Sequence[float] = 1.0,
    background: float | Sequence[float] = -1.0,
    start_position: float | None = None,
    offset: float = 0.0,
    antialias: bool = True,
    seed: int | None = None,
    time_major: bool = False,
) -> np.ndarray:
    """A bright bar moving across a dark background, float32 ``(C, T, H, W)``.

    Units: ``width`` (along the motion) and ``length`` (across it; ``None`` spans the screen) in pixels,
    ``speed`` in pixels per frame, ``direction`` in degrees (0 = toward +width/right, 90 = toward -row/up,
    counter-clockwise; any angle, e.g. the 8 standard ones). The bar's centre sits ``start_position`` pixels
    along ``direction`` from the screen centre on frame 0 (default: just outside the screen, so it enters on
    frame 1) and ``offset`` pixels to the left of the motion. ``bar_intensity`` and ``background`` are numbers
    or one per channel. ``seed`` is accepted for a uniform interface (the bar is deterministic).
    """
    shape = check_shape(shape)
    _, n_frames, height, width_px = shape
    bar_width, bar_length = _check_bar(width, length)
    if not np.isfinite(float(speed)):
        raise ValueError(f"speed must be a finite number of pixels per frame, received {speed!r}")
    if start_position is None:
        start_position = -(float(half_extent(height, width_px, direction)) + bar_width / 2.0)
    positions = float(start_position) + float(speed) * np.arange(n_frames, dtype=np.float64)
    pattern = bar_pattern(
        height,
        width_px,
        np.array([float(direction)]),
        positions[None],
        bar_width,
        bar_length,
        offset,
        antialias,
    )
    return _paint(pattern, shape, bar_intensity, background, time_major)


def _paint(
    pattern: np.ndarray,
    shape: Shape,
    bar_intensity: float | Sequence[float],
    background: float | Sequence[float],
    time_major: bool,
) -> np.ndarray:
    bright = per_channel(bar_intensity, shape[0], "bar_intensity")
    dark = per_channel(background, shape[0], "background")
    return fill_channels(pattern, shape, dark, bright - dark, time_major)


def generate_moving_bar_protocol(
    shape: Sequence[int] = (1, 984, 18, 16),
    frame_rate: float | None = None,
    width: float | None = None,
    length: float | None = None,
    speed: float | None = None,
    directions: Sequence[float] = MOVING_BAR_DIRECTIONS_DEG,
    bar_intensity: float | Sequence[float] = 1.0,
    background: float | Sequence[float] = -1.0,
    antialias: bool = True,
    seed: int | None = None,
    time_major: bool = False,
) -> np.ndarray:
    """The moving-bar protocol: one sweep per direction, in order, float32 ``(C, T, H, W)``.

    ``T`` is split into ``len(directions)`` equal segments (default 8 directions 0, 180, 45, 225, 90, 270,
    135, 315 degrees). In every segment the bar's centre crosses the screen centre on the middle frame at a
    constant ``speed`` in pixels per frame. The default speed takes the bar from fully outside to fully
    outside the screen within one segment along the longest direction, the same for all directions.
    ``frame_rate`` (Hz) is optional: when given, ``T`` must be ``len(directions) * round(4.1 s * frame_rate)``
    (984 frames at 30 Hz, openretina's pre-rendered stack without its 3 s lead-in and 1 s tail). ``width``
    defaults to a fifth of the shorter screen side (pixels); ``length=None`` spans the screen.
    """
    shape = check_shape(shape)
    _, n_frames, height, width_px = shape
    angles = np.asarray([float(a) for a in directions], dtype=np.float64)
    if angles.size == 0:
        raise ValueError("directions must name at least one direction in degrees")
    n_dirs = angles.size
    if n_frames % n_dirs:
        raise ValueError(
            f"shape[1] = {n_frames} frames cannot be split into {n_dirs} equal direction segments; "
            f"use a multiple of {n_dirs} (e.g. {n_dirs * max(1, round(n_frames / n_dirs))})"
        )
    frame_rate_for(n_frames, frame_rate, MOVING_BAR_SEGMENT_S * n_dirs, "the moving-bar protocol", n_dirs)
    per_segment = n_frames // n_dirs
    if width is None:
        width = max(1, round(min(height, width_px) / 5))
    bar_width, bar_length = _check_bar(width, length)
    if speed is None:
        reach = float(half_extent(height, width_px, angles).max()) + bar_width / 2.0
        speed = 2.0 * reach / max(1, per_segment - 1)
    elif not np.isfinite(float(speed)):
        raise ValueError(f"speed must be a finite number of pixels per frame, received {speed!r}")
    frames = np.arange(per_segment, dtype=np.float64) - (per_segment - 1) / 2.0
    positions = np.broadcast_to(float(speed) * frames, (n_dirs, per_segment))
    pattern = bar_pattern(height, width_px, angles, positions, bar_width, bar_length, 0.0, antialias)
    return _paint(pattern, shape, bar_intensity, background, time_major)
