"""Resampling to the 30 Hz frames: a hand-computed example, np.interp semantics, per-trigger frame grids."""

from __future__ import annotations

import numpy as np
import pytest
from openretina_hoefling_2024.upsample import frame_times, interpolate_rows, stimulus_frame_times


def test_hand_computed_example() -> None:
    # Trace sampled at t = 0, 1, 2, 3 s with values 0, 10, 20, 10. One trigger at 0.5 s; 4 frames spread over
    # 1.5 s: frame times 0.5, 1.0, 1.5, 2.0 -> values 5, 10, 15, 20 (worked out by hand).
    targets = frame_times(np.array([0.5]), empirical_s=1.5, theoretical_s=4 / 30)
    np.testing.assert_allclose(targets, [0.5, 1.0, 1.5, 2.0])
    values = np.array([[0.0, 10.0, 20.0, 10.0], [1.0, 1.0, 3.0, 3.0]], dtype=np.float32)
    times = np.array([[0.0, 1.0, 2.0, 3.0], [0.25, 1.25, 2.25, 3.25]])  # ROI 2 sampled 0.25 s later
    out = interpolate_rows(times, values, targets)
    np.testing.assert_allclose(out[0], [5.0, 10.0, 15.0, 20.0], atol=1e-6)
    # ROI 2: 0.5 and 1.0 lie between two samples of 1 -> 1; 1.5 -> 1 + 0.25 * 2 = 1.5; 2.0 -> 1 + 0.75 * 2 = 2.5
    np.testing.assert_allclose(out[1], [1.0, 1.0, 1.5, 2.5], atol=1e-6)
    # The same with the t0/dt layout.
    np.testing.assert_allclose(
        interpolate_rows((np.array([0.0, 0.25]), np.array([1.0, 1.0])), values, targets), out
    )


@pytest.mark.parametrize("layout", ["times", "t0dt", "float32_times", "irregular", "per_roi_dt"])
def test_matches_np_interp_per_roi(layout: str) -> None:
    rng = np.random.default_rng(3)
    n, t = 17, 900
    t0 = 2.0 + rng.uniform(0, 0.128, n)
    dt = np.full(n, 0.128) * (1 + rng.uniform(0, 1e-3, n) if layout == "per_roi_dt" else 1.0)
    times = t0[:, None] + dt[:, None] * np.arange(t)[None]
    if layout == "irregular":
        times = np.sort(times + rng.uniform(0, 0.05, times.shape), axis=1)
    values = rng.normal(size=(n, t)).astype(np.float32)
    targets = np.concatenate([[0.0, 1.0], stimulus_frame_times(4.0 + 4.97 * np.arange(20), "natural"), [1e4]])
    expected = np.stack([np.interp(targets, times[i], values[i]) for i in range(n)])
    argument: object = times
    atol = 1e-5
    if layout == "t0dt":
        argument = (t0, dt)
    elif layout == "float32_times":  # stored rounded to float32: treated as the regular grid they encode
        argument = times.astype(np.float32)
        expected = np.stack([np.interp(targets, argument[i], values[i]) for i in range(n)])  # type: ignore[index]
        atol = 5e-3
    out = interpolate_rows(argument, values, targets)  # type: ignore[arg-type]
    assert out.shape == (n, targets.size) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=atol)
    # Outside the sampled range the edge value is held, as np.interp does.
    np.testing.assert_allclose(out[:, 0], values[:, 0], atol=1e-6)
    np.testing.assert_allclose(out[:, -1], values[:, -1], atol=1e-6)


def test_frames_per_trigger_for_each_stimulus() -> None:
    natural = stimulus_frame_times(10 + 4.97 * np.arange(123), "natural")
    assert natural.size == 123 * 150 == 18450
    np.testing.assert_allclose(natural[149] - natural[0], 4.9666667)
    chirp_triggers = np.sort(np.concatenate([2 + 33.5 * np.arange(5), 7 + 33.5 * np.arange(5)]))
    chirp = stimulus_frame_times(chirp_triggers, "chirp")
    assert chirp.size == 5 * 990  # every 2nd trigger starts a chirp
    np.testing.assert_allclose(chirp[::990], 2 + 33.5 * np.arange(5))
    bar = stimulus_frame_times(3 + 4.1 * np.arange(24), "mb")
    assert bar.size == 24 * 123
    np.testing.assert_allclose(bar[122] - bar[0], 4.054)


def test_empty_and_single_sample_rows() -> None:
    assert interpolate_rows(np.zeros((0, 5)), np.zeros((0, 5)), np.arange(3.0)).shape == (0, 3)
    out = interpolate_rows(np.array([[1.0]]), np.array([[4.0]]), np.arange(3.0))
    np.testing.assert_array_equal(out, [[4.0, 4.0, 4.0]])
    with pytest.raises(ValueError, match="differ in shape"):
        interpolate_rows(np.zeros((2, 5)), np.zeros((2, 4)), np.arange(3.0))
