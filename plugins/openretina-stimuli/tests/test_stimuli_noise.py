"""Noise: measured marginal statistics, pixel independence, block structure and requested correlations."""

from __future__ import annotations

import numpy as np
import pytest
from openretina_stimuli import generate_noise_stimulus


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def _lag_corr(movie: np.ndarray, axis: int, lag: int) -> float:
    n = movie.shape[axis]
    return _corr(np.take(movie, np.arange(n - lag), axis=axis), np.take(movie, np.arange(lag, n), axis=axis))


def test_seed_page_call_runs_verbatim() -> None:
    noise = generate_noise_stimulus(shape=(2, 30, 16, 18), distribution="gaussian")
    assert noise.shape == (2, 30, 16, 18) and noise.dtype == np.float32 and np.isfinite(noise).all()


def test_gaussian_white_noise_statistics_and_independence() -> None:
    movie = generate_noise_stimulus((2, 200, 32, 32), mean=[0.0, 0.5], std=[1.0, 0.2], seed=3)
    assert movie[0].mean() == pytest.approx(0.0, abs=0.01) and movie[0].var() == pytest.approx(1.0, rel=0.01)
    assert movie[1].mean() == pytest.approx(0.5, abs=0.002) and movie[1].std() == pytest.approx(0.2, rel=0.01)
    # Third and fourth moments of a normal distribution.
    z = movie[0].astype(np.float64).ravel()
    assert np.mean(z**3) == pytest.approx(0.0, abs=0.03) and np.mean(z**4) == pytest.approx(3.0, abs=0.05)
    for axis in (0, 1, 2):  # time, rows, columns of one channel
        assert abs(_lag_corr(movie[0], axis, 1)) < 0.01
    assert abs(_corr(movie[0], movie[1])) < 0.01, "channels are independent by default"


def test_uniform_and_binary_marginals() -> None:
    uniform = generate_noise_stimulus((1, 100, 32, 32), distribution="uniform", mean=0.5, std=0.1, seed=1)
    half_range = 0.1 * np.sqrt(3)
    assert 0.5 - half_range <= uniform.min() < 0.5 - 0.99 * half_range
    assert 0.5 + 0.99 * half_range < uniform.max() <= 0.5 + half_range
    assert uniform.std() == pytest.approx(0.1, rel=0.01)
    counts, _ = np.histogram(uniform, bins=10, range=(0.5 - half_range, 0.5 + half_range))
    assert np.abs(counts / counts.mean() - 1).max() < 0.05, "flat histogram"
    assert abs(_lag_corr(uniform[0], 2, 1)) < 0.01

    for name in ("binary", "checkerboard"):
        binary = generate_noise_stimulus((1, 100, 32, 32), distribution=name, mean=0.2, std=0.5, seed=2)
        values, counts = np.unique(binary, return_counts=True)
        np.testing.assert_allclose(values, [-0.3, 0.7], atol=1e-6)
        assert counts[1] / counts.sum() == pytest.approx(0.5, abs=0.01)
        assert abs(_lag_corr(binary[0], 0, 1)) < 0.01


def test_checkerboard_blocks_and_frame_duration() -> None:
    movie = generate_noise_stimulus(
        (1, 90, 30, 40), distribution="binary", pixel_size=4, frame_duration=3, seed=5
    )[0]
    cells = movie[::3, ::4, ::4]  # one sample per noise cell (blocks at the right/bottom edge are cropped)
    expanded = np.repeat(np.repeat(np.repeat(cells, 3, 0), 4, 1), 4, 2)[:, :30, :40]
    np.testing.assert_array_equal(movie, expanded)
    assert abs(_lag_corr(cells, 2, 1)) < 0.03 and abs(_lag_corr(cells, 0, 1)) < 0.03


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_spatial_correlation_matches_request(sigma: float) -> None:
    movie = generate_noise_stimulus((1, 100, 64, 64), spatial_sigma=sigma, seed=7)[0]
    assert movie.var() == pytest.approx(1.0, abs=0.05)
    for d in (1, 2, 3):
        expected = np.exp(-(d**2) / (4 * sigma**2))
        assert _lag_corr(movie, 2, d) == pytest.approx(expected, abs=0.02)
        assert _lag_corr(movie, 1, d) == pytest.approx(expected, abs=0.02)
    assert abs(_lag_corr(movie, 0, 1)) < 0.02, "spatial smoothing leaves frames independent"


def test_temporal_correlation_matches_request() -> None:
    sigma = 1.5
    movie = generate_noise_stimulus((1, 3000, 12, 12), temporal_sigma=sigma, seed=8)[0]
    assert movie.var() == pytest.approx(1.0, abs=0.05)
    for lag in (1, 2, 4):
        assert _lag_corr(movie, 0, lag) == pytest.approx(np.exp(-(lag**2) / (4 * sigma**2)), abs=0.02)
    assert abs(_lag_corr(movie, 2, 1)) < 0.02, "temporal smoothing leaves neighbouring pixels independent"


def test_correlated_binary_and_uniform_noise_follow_the_arcsine_laws() -> None:
    sigma = 1.5
    movie = generate_noise_stimulus((1, 100, 64, 64), distribution="binary", spatial_sigma=sigma, seed=9)[0]
    assert set(np.unique(movie)) == {-1.0, 1.0}
    rho = np.exp(-1 / (4 * sigma**2))
    assert _lag_corr(movie, 2, 1) == pytest.approx(2 / np.pi * np.arcsin(rho), abs=0.02)
    uniform = generate_noise_stimulus((1, 100, 64, 64), distribution="uniform", spatial_sigma=sigma, seed=9)[
        0
    ]
    assert _lag_corr(uniform, 2, 1) == pytest.approx(6 / np.pi * np.arcsin(rho / 2), abs=0.02)


def test_deterministic_given_seed_in_both_layouts() -> None:
    a = generate_noise_stimulus((2, 20, 8, 8), seed=11, spatial_sigma=1.0)
    b = generate_noise_stimulus((2, 20, 8, 8), seed=11, spatial_sigma=1.0, time_major=True)
    c = generate_noise_stimulus((2, 20, 8, 8), seed=12, spatial_sigma=1.0)
    np.testing.assert_array_equal(a, b)
    assert b.transpose(1, 0, 2, 3).flags.c_contiguous
    assert not np.allclose(a, c)
    shared = generate_noise_stimulus((3, 20, 8, 8), seed=11, independent_channels=False)
    np.testing.assert_array_equal(shared[0], shared[2])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"distribution": "pink"},
        {"pixel_size": 0},
        {"frame_duration": 1.5},
        {"spatial_sigma": -1.0},
        {"std": -1.0},
        {"mean": [0.0, 1.0, 2.0]},
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_noise_stimulus((2, 5, 8, 8), **kwargs)
