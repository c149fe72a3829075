"""Full-field stimuli: the chirp, periodic flashes, and a step in one colour channel.

Each is a time course shown identically at every pixel; it is computed once per frame (vectorised over
frames) and broadcast over the screen and the channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from openretina_stimuli._common import check_shape, fill_channels, frame_rate_for, per_channel, positive
from openretina_stimuli.constants import (
    CHIRP_CONTRAST_FREQUENCY_HZ,
    CHIRP_DURATION_S,
    CHIRP_SEGMENTS,
    CHIRP_SWEEP_RATE_HZ_PER_S,
    DEFAULT_FRAME_RATE_HZ,
)


def chirp_segments(frame_rate: float = DEFAULT_FRAME_RATE_HZ) -> list[tuple[str, int, int]]:
    """``(name, first frame, end frame exclusive)`` of each chirp segment at ``frame_rate`` Hz.

    Frame ``i`` is shown at ``i / frame_rate`` s and belongs to the segment containing that time.
    """
    rate = positive(frame_rate, "frame_rate")
    bounds = np.concatenate([[0.0], np.cumsum([duration for _, duration in CHIRP_SEGMENTS])])
    frames = np.ceil(bounds * rate - 1e-9).astype(int)
    return [(name, int(frames[i]), int(frames[i + 1])) for i, (name, _) in enumerate(CHIRP_SEGMENTS)]


def chirp_trace(times: np.ndarray, dark: float = -1.0, bright: float = 1.0) -> np.ndarray:
    """The chirp's intensity at ``times`` (seconds from its start), float64."""
    bounds = np.cumsum([0.0] + [duration for _, duration in CHIRP_SEGMENTS])
    names = [name for name, _ in CHIRP_SEGMENTS]
    segment = np.clip(np.searchsorted(bounds, times, side="right") - 1, 0, len(names) - 1)
    local = times - bounds[segment]  # seconds since the segment began
    grey, amplitude = (dark + bright) / 2.0, (bright - dark) / 2.0
    ramp_duration = CHIRP_SEGMENTS[names.index("contrast_ramp")][1]
    values = {
        "dark": np.full_like(times, dark),
        "on": np.full_like(times, bright),
        "grey": np.full_like(times, grey),
        "frequency_sweep": grey + amplitude * np.sin(np.pi * CHIRP_SWEEP_RATE_HZ_PER_S * local**2),
        "contrast_ramp": grey
        + amplitude * (local / ramp_duration) * np.sin(2 * np.pi * CHIRP_CONTRAST_FREQUENCY_HZ * local),
    }
    kinds = [name if name in values else name.split("_")[0] for name in names]
    return np.select([segment == i for i in range(len(names))], [values[kind] for kind in kinds])


def generate_chirp(
    shape: Sequence[int] = (1, 990, 1, 1),
    frame_rate: float | None = None,
    dark: float = -1.0,
    bright: float = 1.0,
    seed: int | None = None,
    time_major: bool = False,
) -> np.ndarray:
    """The 33 s full-field chirp, float32 ``(C, T, H, W)``, identical in every channel and pixel.

    Segments (seconds): 2 dark, 3 ON, 3 dark, 2 grey, 8 frequency sweep ``sin(pi K t**2)`` with K = 1 Hz/s
    (0 → 8 Hz), 2 grey, 8 contrast ramp at 2 Hz (amplitude growing linearly from 0 to full), 2 grey, 3 dark.
    ``dark``/``bright`` are the extreme values and grey is their mean (defaults -1, 1, 0: openretina's
    ``(x - 128) / 128`` scale). ``frame_rate`` (Hz) defaults to ``T / 33 s`` (990 frames = 30 Hz); when given,
    ``T`` must be ``round(33 * frame_rate)``. Frame ``i`` shows the chirp at ``i / frame_rate`` s.
    """
    shape = check_shape(shape)
    rate = frame_rate_for(shape[1], frame_rate, CHIRP_DURATION_S, "the chirp")
    times = np.arange(shape[1], dtype=np.float64) / rate
    trace = chirp_trace(times, float(dark), float(bright)).astype(np.float32)
    return fill_channels(trace[:, None, None], shape, np.zeros(shape[0]), np.ones(shape[0]), time_major)


FLASH_POLARITIES = ("on", "off", "alternating")


def generate_flashes(
    shape: Sequence[int] = (1, 120, 1, 1),
    frame_rate: float = DEFAULT_FRAME_RATE_HZ,
    flash_duration: float = 1.0,
    interval: float = 1.0,
    polarity: str = "on",
    contrast: float | Sequence[float] = 1.0,
    mean: float | Sequence[float] = 0.0,
    seed: int | None = None,
    time_major: bool = False,
) -> np.ndarray:
    """Periodic full-field flashes, float32 ``(C, T, H, W)``.

    Each period is ``interval`` seconds at ``mean`` followed by ``flash_duration`` seconds at
    ``mean + contrast`` (``polarity="on"``), ``mean - contrast`` (``"off"``) or alternately both
    (``"alternating"``: ON first). Frame ``i`` is shown at ``i / frame_rate`` s (``frame_rate`` in Hz).
    """
    shape = check_shape(shape)
    rate = positive(frame_rate, "frame_rate")
    flash = positive(flash_duration, "flash_duration")
    gap = positive(interval, "interval", allow_zero=True)
    if polarity not in FLASH_POLARITIES:
        raise ValueError(f"polarity must be one of {FLASH_POLARITIES}, received {polarity!r}")
    # The small tolerance puts a frame shown exactly at a flash onset inside the flash.
    times = np.arange(shape[1], dtype=np.float64) / rate
    period = flash + gap
    cycle = np.floor(times / period + 1e-9)
    in_flash = (times - cycle * period) >= gap - 1e-9
    sign = np.ones_like(times) if polarity == "on" else -np.ones_like(times)
    if polarity == "alternating":
        sign = np.where(cycle % 2 == 0, 1.0, -1.0)
    trace = (in_flash * sign).astype(np.float32)
    return fill_channels(
        trace[:, None, None],
        shape,
        per_channel(mean, shape[0], "mean"),
        per_channel(contrast, shape[0], "contrast"),
        time_major,
    )


def generate_colored_stimulus(
    shape: Sequence[int] = (2, 60, 1, 1),
    channel_idx: int = 0,
    pad_front: int = 0,
    pad_end: int = 0,
    intensity: float = 1.0,
    background: float = 0.0,
    seed: int | None = None,
    time_major: bool = False,
) -> np.ndarray:
    """A full-field step in one channel, float32 ``(C, T, H, W)``.

    Channel ``channel_idx`` is ``intensity`` for frames ``pad_front .. T - pad_end - 1`` and ``background``
    elsewhere; every other channel stays at ``background`` (defaults 1 and 0, as in openretina).
    """
    shape = check_shape(shape)
    channels, n_frames = shape[:2]
    if int(channel_idx) != channel_idx or not 0 <= int(channel_idx) < channels:
        raise ValueError(f"channel_idx must be an integer in [0, {channels - 1}], received {channel_idx!r}")
    for name, value in (("pad_front", pad_front), ("pad_end", pad_end)):
        if int(value) != value or int(value) < 0:
            raise ValueError(f"{name} must be a non-negative integer number of frames, received {value!r}")
    length = n_frames - int(pad_front) - int(pad_end)
    if length < 1:
        raise ValueError(
            f"pad_front ({pad_front}) + pad_end ({pad_end}) leave no stimulus frames in shape[1] = {n_frames}"
        )
    step = np.zeros(n_frames, dtype=np.float32)
    step[int(pad_front) : int(pad_front) + length] = 1.0
    scale = np.zeros(channels)
    scale[int(channel_idx)] = float(intensity) - float(background)
    return fill_channels(step[:, None, None], shape, np.full(channels, float(background)), scale, time_major)


def colored_stimulus(
    channel_idx: int,
    pad_front: int,
    stimulus_length: int,
    pad_end: int,
    size_x: int,
    size_y: int,
    channels: int = 2,
) -> np.ndarray:
    """openretina's ``colored_stimulus`` with the same arguments, returning ``(C, T, size_x, size_y)``.

    Differences from openretina: no leading batch axis (openretina returns ``(1, C, T, size_x, size_y)``; add
    it with ``[None]``), and the channel count is an argument (openretina fixes 2).
    """
    total = int(pad_front) + int(stimulus_length) + int(pad_end)
    return generate_colored_stimulus(
        (channels, total, size_x, size_y), channel_idx=channel_idx, pad_front=pad_front, pad_end=pad_end
    )
