"""Chirp, flashes, colour steps: segment timings, sweep frequencies and envelopes measured from the trace."""

from __future__ import annotations

import numpy as np
import pytest
from openretina_stimuli import chirp_segments, colored_stimulus, generate_chirp, generate_colored_stimulus
from openretina_stimuli.fullfield import generate_flashes


def _runs(trace: np.ndarray, level: float) -> list[tuple[int, int]]:
    """(first, end-exclusive) frame ranges where ``trace`` equals ``level`` for at least 3 frames."""
    hit = np.concatenate([[0], (np.abs(trace - level) < 1e-6).astype(int), [0]])
    edges = np.flatnonzero(np.diff(hit))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= 3]


@pytest.mark.parametrize("frame_rate", [30.0, 60.0])
def test_chirp_segment_timings(frame_rate: float) -> None:
    n_frames = round(33 * frame_rate)
    movie = generate_chirp((2, n_frames, 3, 4), frame_rate=frame_rate)
    assert movie.shape == (2, n_frames, 3, 4) and movie.dtype == np.float32
    assert (movie == movie[:1, :, :1, :1]).all(), "full field, identical channels"
    trace = movie[0, :, 0, 0].astype(np.float64)

    def seconds(level: float) -> np.ndarray:
        return np.array(_runs(trace, level), dtype=np.float64) / frame_rate

    one_frame = 1.0 / frame_rate
    np.testing.assert_allclose(seconds(-1.0), [(0, 2), (5, 8), (30, 33)])  # dark
    np.testing.assert_allclose(seconds(1.0), [(2, 5)])  # ON step
    # Grey: the sweep and the ramp start at the grey level (sin 0 = 0), so a grey run may end a frame late.
    np.testing.assert_allclose(seconds(0.0), [(8, 10), (18, 20), (28, 30)], atol=one_frame + 1e-9)
    # The two modulated segments fill the rest: 10-18 s and 20-28 s.
    assert np.abs(trace[int(10 * frame_rate) : int(18 * frame_rate)]).max() > 0.99
    assert [(name, a / frame_rate, b / frame_rate) for name, a, b in chirp_segments(frame_rate)][4] == (
        "frequency_sweep",
        10.0,
        18.0,
    )


def _crossings(trace: np.ndarray, rate: float) -> np.ndarray:
    """Times (s) of sign changes, linearly interpolated between frames."""
    s = np.sign(trace)
    idx = np.flatnonzero((s[:-1] < 0) & (s[1:] > 0) | (s[:-1] > 0) & (s[1:] < 0))
    frac = trace[idx] / (trace[idx] - trace[idx + 1])
    return (idx + frac) / rate


def test_chirp_sweep_frequency_at_known_times() -> None:
    rate = 500.0
    trace = generate_chirp((1, int(33 * rate), 1, 1), frame_rate=rate)[0, :, 0, 0].astype(np.float64)
    sweep = trace[int(10 * rate) : int(18 * rate)]
    times = _crossings(sweep, rate)
    local_hz = 1.0 / (2 * np.diff(times))  # half a cycle between crossings
    mid = (times[1:] + times[:-1]) / 2
    for tau in (2.0, 3.0, 4.0, 6.0, 7.5):  # seconds into the sweep: K = 1 Hz/s
        assert np.interp(tau, mid, local_hz) == pytest.approx(tau, rel=0.02)
    assert local_hz.max() < 8.1 and sweep.max() == pytest.approx(1.0, abs=1e-3)


def test_chirp_contrast_ramp_frequency_and_envelope() -> None:
    rate = 500.0
    trace = generate_chirp((1, int(33 * rate), 1, 1), frame_rate=rate)[0, :, 0, 0].astype(np.float64)
    ramp = trace[int(20 * rate) : int(28 * rate)]
    times = _crossings(ramp, rate)
    assert np.median(np.diff(times)) == pytest.approx(0.25, rel=0.01)  # 2 Hz
    cycles = ramp[: int(8 * rate)].reshape(16, -1)  # one 0.5 s cycle per row
    envelope = np.abs(cycles).max(axis=1)
    centres = (np.arange(16) + 0.5) * 0.5
    slope, intercept = np.polyfit(centres, envelope, 1)
    assert slope == pytest.approx(1 / 8, rel=0.05) and abs(intercept) < 0.03


def test_chirp_frame_rate_inference_and_mismatch() -> None:
    assert generate_chirp((1, 990, 1, 1)).shape == (1, 990, 1, 1)
    np.testing.assert_array_equal(generate_chirp((1, 1980, 2, 2))[0, ::2], generate_chirp((1, 990, 2, 2))[0])
    with pytest.raises(ValueError, match="990"):
        generate_chirp((1, 1000, 1, 1), frame_rate=30.0)
    lit = generate_chirp((1, 990, 1, 1), dark=0.0, bright=1.0)[0, :, 0, 0]
    assert lit.min() == 0.0 and lit.max() == 1.0 and lit[(9 * 30)] == 0.5


def test_flashes_onsets_and_polarity() -> None:
    movie = generate_flashes(
        (1, 150, 2, 2), frame_rate=30.0, flash_duration=0.5, interval=1.0, polarity="alternating"
    )
    trace = movie[0, :, 0, 0]
    assert [a for a, _ in _runs(trace, 1.0)] == [30, 120] and [a for a, _ in _runs(trace, -1.0)] == [75]
    assert all(b - a == 15 for a, b in _runs(trace, 1.0) + _runs(trace, -1.0))
    off = generate_flashes((2, 60, 1, 1), polarity="off", contrast=0.5, mean=[0.0, 0.2])
    assert off[0].min() == -0.5 and off[1].max() == pytest.approx(0.2)


def test_colored_stimulus_step_and_reference_signature() -> None:
    movie = generate_colored_stimulus((3, 20, 4, 5), channel_idx=1, pad_front=5, pad_end=3)
    on = np.flatnonzero(movie[1, :, 0, 0] == 1.0)
    assert on.tolist() == list(range(5, 17))
    assert (movie[[0, 2]] == 0).all() and (movie[1, on] == 1).all()
    # openretina's order: (channel_idx, pad_front, stimulus_length, pad_end, size_x, size_y) -> (C, T, x, y).
    reference = colored_stimulus(0, 10, 30, 5, 18, 16)
    assert reference.shape == (2, 45, 18, 16) and reference.dtype == np.float32
    assert reference[0, 10:40].min() == 1.0 and reference[0].sum() == 30 * 18 * 16 and reference[1].max() == 0
    with pytest.raises(ValueError):
        generate_colored_stimulus((2, 10, 1, 1), channel_idx=2)
    with pytest.raises(ValueError):
        generate_colored_stimulus((2, 10, 1, 1), pad_front=6, pad_end=4)
