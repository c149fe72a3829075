"""Resample imaging-rate traces to the 30 Hz stimulus frames, all ROIs of a field at once.

Each used trigger starts ``round(theoretical_s * 30)`` frames spread evenly over ``empirical_s`` seconds
(``linspace(t, t + empirical_s, n)``); every ROI's trace is linearly interpolated at those times with the
semantics of ``np.interp`` (values outside the sampled range take the edge value). ROIs have their own
sample times (scan-line offsets), so the interpolation is batched: index and weight arrays for blocks of
ROIs and one gather per block, instead of a Python loop over ROIs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import numpy as np

from openretina_core import BadDataError
from openretina_hoefling_2024 import constants as c


def frame_times(
    trigger_times: np.ndarray, empirical_s: float, theoretical_s: float, rate_hz: float = c.FRAME_RATE_HZ
) -> np.ndarray:
    """``(n_triggers * frames_per_trigger,)`` float64 frame times, one block per trigger."""
    n_frames = round(theoretical_s * rate_hz)
    steps = np.linspace(0.0, empirical_s, n_frames)
    return (np.asarray(trigger_times, dtype=np.float64).reshape(-1, 1) + steps[None, :]).reshape(-1)


def stimulus_frame_times(trigger_times: np.ndarray, response_type: str) -> np.ndarray:
    """Frame times for a stimulus of :data:`constants.STIMULUS_TIMING` (chirp uses every 2nd trigger)."""
    timing = c.STIMULUS_TIMING[response_type]
    used = np.asarray(trigger_times, dtype=np.float64).reshape(-1)[:: timing["trigger_step"]]
    return frame_times(used, timing["empirical_s"], timing["theoretical_s"])


def _regular_grid(times: np.ndarray, resolution: float = 0.0) -> tuple[np.ndarray, np.ndarray] | None:
    """``(t0, dt)`` per row when every row is an arithmetic sequence, else ``None``.

    A row counts as regular when it deviates from ``t0 + k * dt`` by at most 1e-6 of the step plus
    ``resolution`` (the rounding of the stored dtype, e.g. float32 times).
    """
    if times.shape[1] < 2:
        return None
    t0 = times[:, 0]
    dt = (times[:, -1] - t0) / (times.shape[1] - 1)
    if not np.all(dt > 0):
        return None
    deviation = np.abs(times - (t0[:, None] + dt[:, None] * np.arange(times.shape[1])[None, :]))
    if np.all(deviation <= 1e-6 * dt[:, None] + resolution):
        return t0, dt
    return None


def _split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer and float32 fractional parts (exact fractions without float64 row-by-frame arrays)."""
    whole = np.floor(values)
    return whole.astype(np.int64), (values - whole).astype(np.float32)


class _Positions:
    """Where each target falls in each row's samples: ``(left sample index, weight)`` for a block of rows."""

    def __init__(
        self, times: np.ndarray | tuple[np.ndarray, np.ndarray], n_rows: int, targets: np.ndarray
    ) -> None:
        self.targets = targets
        self.irregular: np.ndarray | None = None
        self.shared: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        if isinstance(times, tuple):
            t0 = np.broadcast_to(np.asarray(times[0], dtype=np.float64).reshape(-1), (n_rows,))
            dt = np.broadcast_to(np.asarray(times[1], dtype=np.float64).reshape(-1), (n_rows,))
            if not np.all(dt > 0):
                raise BadDataError(f"sample intervals must be positive, got {np.unique(dt)[:5]}")
            grid: tuple[np.ndarray, np.ndarray] | None = (t0, dt)
        else:
            stored = np.asarray(times)
            rounding = 0.0
            if np.issubdtype(stored.dtype, np.floating) and stored.dtype != np.float64:
                rounding = 4 * float(np.finfo(stored.dtype).eps) * float(np.abs(stored).max(initial=0.0))
            self.irregular = stored.astype(np.float64, copy=False)
            grid = _regular_grid(self.irregular, rounding)
        self.grid = grid
        if grid is not None and np.ptp(grid[1]) <= 1e-12 * grid[1][0]:
            # One step for the field: split frame positions and ROI offsets into integer + fraction once.
            step = float(grid[1][0])
            origin = float(grid[0].min())
            base_int, base_frac = _split((targets - origin) / step)
            shift_int, shift_frac = _split((grid[0] - origin) / step)
            self.shared = (base_int, base_frac, shift_int, shift_frac)

    def block(self, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        if self.shared is not None:
            base_int, base_frac, shift_int, shift_frac = self.shared
            weight = base_frac[None, :] - shift_frac[rows, None]
            borrow = weight < 0
            weight += borrow
            left = base_int[None, :] - shift_int[rows, None]
            left -= borrow
            return left, weight
        if self.grid is not None:
            t0, dt = self.grid
            return _split((self.targets[None, :] - t0[rows, None]) / dt[rows, None])
        return _positions_irregular(cast(np.ndarray, self.irregular), self.targets, rows)


def _positions_irregular(
    times: np.ndarray, targets: np.ndarray, rows: slice
) -> tuple[np.ndarray, np.ndarray]:
    """(left sample index, weight) by one ``searchsorted`` over the rows laid end to end."""
    block = times[rows]
    n_rows, n_samples = block.shape
    first = block[:, :1]
    extent = float((block[:, -1:] - first).max())
    span = extent + 2.0  # rows laid end to end, one unit apart; queries clipped into their own row's band
    offsets = (np.arange(n_rows, dtype=np.float64) * span)[:, None]
    flat = (block - first + offsets).reshape(-1)
    local = np.clip(targets[None, :] - first, -0.5, extent + 0.5)
    left = np.searchsorted(flat, (local + offsets).reshape(-1), side="right").reshape(n_rows, -1) - 1
    left -= (np.arange(n_rows) * n_samples)[:, None]
    np.clip(left, 0, n_samples - 2, out=left)
    x_left = np.take_along_axis(block, left, 1)
    x_right = np.take_along_axis(block, left + 1, 1)
    weight = np.clip((targets[None, :] - x_left) / (x_right - x_left), 0.0, 1.0).astype(np.float32)
    return left, weight


def iter_interpolated(
    times: np.ndarray | tuple[np.ndarray, np.ndarray],
    values: np.ndarray,
    targets: np.ndarray,
    rows_per_block: int = 16,
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(rows, block)``: ``np.interp(targets, times[i], values[i])`` for a cache-sized block of rows.

    ``times`` is ``(n_rows, T)`` increasing sample times, or ``(t0, dt)`` per row for regular sampling
    (detected automatically for explicit times, allowing for the rounding of float32 storage). Blocks are
    float32 ``(rows, n_targets)``; consumers normalise and scatter them while they are in cache.
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    n_rows, n_samples = values.shape
    targets = np.asarray(targets, dtype=np.float64).reshape(-1)
    if not isinstance(times, tuple) and np.shape(times) != values.shape:
        raise BadDataError(f"sample times {np.shape(times)} and traces {values.shape} differ in shape")
    if n_rows == 0:
        return
    if n_samples == 1:
        yield slice(0, n_rows), np.repeat(values, targets.size, axis=1)
        return
    positions = _Positions(times, n_rows, targets)
    flat_values = values.reshape(-1)
    for start in range(0, n_rows, rows_per_block):
        rows = slice(start, min(n_rows, start + rows_per_block))
        left, weight = positions.block(rows)
        if left.min() < 0 or left.max() > n_samples - 2:  # outside the sampled range: hold the edge value
            weight[left < 0] = 0.0
            weight[left > n_samples - 2] = 1.0
            np.clip(left, 0, n_samples - 2, out=left)
        left += (np.arange(rows.start, rows.stop) * n_samples)[:, None]
        low = np.take(flat_values, left)
        left += 1
        high = np.take(flat_values, left)
        high -= low
        high *= weight
        high += low
        yield rows, high


def interpolate_rows(
    times: np.ndarray | tuple[np.ndarray, np.ndarray],
    values: np.ndarray,
    targets: np.ndarray,
    rows_per_block: int = 16,
) -> np.ndarray:
    """``np.interp(targets, times[i], values[i])`` for every row ``i``; returns ``(n_rows, n_targets)`` float32."""
    out = np.empty((np.shape(values)[0], np.size(targets)), dtype=np.float32)
    for rows, block in iter_interpolated(times, values, targets, rows_per_block):
        out[rows] = block
    return out
