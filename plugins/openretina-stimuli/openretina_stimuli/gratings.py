"""Drifting gratings: a sinusoid (or square wave) in space that moves at a fixed temporal frequency."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from openretina_stimuli._common import (
    centred_grid,
    check_shape,
    fill_channels,
    per_channel,
    positive,
    unit_vector,
)
from openretina_stimuli.constants import DEFAULT_FRAME_RATE_HZ

WAVEFORMS = ("sine", "square")


def generate_gratings(
    shape: Sequence[int] = (1, 30, 16, 16),
    temporal_frequency: float = 2.0,
    spatial_frequency: float = 0.1,
    orientation: float = 0.0,
    frame_rate: float = DEFAULT_FRAME_RATE_HZ,
    contrast: float | Sequence[float] = 1.0,
    mean: float | Sequence[float] = 0.0,
    phase: float = 0.0,
    waveform: str = "sine",
    seed: int | None = None,
    time_major: bool = False,
) -> np.ndarray:
    """A drifting grating, float32 ``(C, T, H, W)``: ``mean + contrast * wave(phase(t, x, y))``.

    Units: ``temporal_frequency`` in Hz at ``frame_rate`` Hz (frame ``t`` is shown at ``t / frame_rate`` s);
    ``spatial_frequency`` in cycles per pixel (at most 0.5, the Nyquist limit); ``orientation`` in degrees is
    the direction the stripes drift: 0 = toward +width (right), 90 = toward -row (up), counter-clockwise;
    the stripes run perpendicular to it. A negative ``temporal_frequency`` drifts the other way.
    ``phase`` (degrees) is the wave's phase at the screen centre on frame 0. ``contrast`` and ``mean`` are
    numbers or one per channel. ``waveform="square"`` gives ``sign(sin)``. ``seed`` is accepted for a
    uniform interface (gratings are deterministic). ``time_major=True`` returns a view of a ``(T, C, H, W)``
    buffer.
    """
    shape = check_shape(shape)
    channels, n_frames, height, width = shape
    rate = positive(frame_rate, "frame_rate")
    if waveform not in WAVEFORMS:
        raise ValueError(f"waveform must be one of {WAVEFORMS}, received {waveform!r}")
    if not 0 <= float(spatial_frequency) <= 0.5:
        raise ValueError(
            f"spatial_frequency must be in [0, 0.5] cycles per pixel (0.5 is the Nyquist limit), "
            f"received {spatial_frequency!r}"
        )
    if abs(float(temporal_frequency)) > rate / 2:
        raise ValueError(
            f"|temporal_frequency| must be at most frame_rate / 2 = {rate / 2:g} Hz, "
            f"received {temporal_frequency!r}"
        )
    amplitude = per_channel(contrast, channels, "contrast")
    offset = per_channel(mean, channels, "mean")

    # Phases are wrapped in float64 on small arrays, then summed in float32: one (T, H, W) temporary.
    d_col, d_row = unit_vector(orientation)
    cols, rows = centred_grid(height, width)
    along = cols * d_col + rows * d_row  # (H, W) position along the drift direction, pixels
    two_pi = 2.0 * np.pi
    spatial_phase = np.mod(two_pi * float(spatial_frequency) * along + np.deg2rad(phase), two_pi)
    times = np.arange(n_frames, dtype=np.float64) / rate
    temporal_phase = np.mod(two_pi * float(temporal_frequency) * times, two_pi)
    pattern = spatial_phase.astype(np.float32)[None] - temporal_phase.astype(np.float32)[:, None, None]
    np.sin(pattern, out=pattern)
    if waveform == "square":
        np.copysign(np.float32(1.0), pattern, out=pattern)
    return fill_channels(pattern, shape, offset, amplitude, time_major)
