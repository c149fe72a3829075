"""Moving bars: centroid velocity and direction measured across frames, direction convention, protocol."""

from __future__ import annotations

import numpy as np
import pytest
from openretina_stimuli import generate_moving_bar, generate_moving_bar_protocol
from openretina_stimuli.constants import MOVING_BAR_DIRECTIONS_DEG


def _centroids(frames: np.ndarray, background: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: (column, row) centroid of the bar and its mass (sum of intensity above background)."""
    weight = frames.astype(np.float64) - background
    mass = weight.sum(axis=(1, 2))
    rows, cols = np.mgrid[0 : frames.shape[1], 0 : frames.shape[2]]
    safe = np.where(mass > 0, mass, 1.0)
    return (weight * cols).sum(axis=(1, 2)) / safe, (weight * rows).sum(axis=(1, 2)) / safe, mass


def _velocity(col: np.ndarray, row: np.ndarray) -> tuple[float, float]:
    """Speed (pixels per frame) and screen direction (degrees, 0 = right, 90 = up) from a linear fit."""
    t = np.arange(col.size)
    v_col, v_row = np.polyfit(t, col, 1)[0], np.polyfit(t, row, 1)[0]
    return float(np.hypot(v_col, v_row)), float(np.degrees(np.arctan2(-v_row, v_col)) % 360)


def _angle_error(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


def test_seed_page_call_runs_verbatim() -> None:
    bar = generate_moving_bar(
        shape=(2, 30, 16, 18),
        width=2,  # pixels
        speed=1,  # pixels per frame
        direction=0,  # degrees
    )
    assert bar.shape == (2, 30, 16, 18) and bar.dtype == np.float32
    assert bar.min() == -1.0 and bar.max() == 1.0


@pytest.mark.parametrize("direction", [*MOVING_BAR_DIRECTIONS_DEG, 30.0, 100.0])
@pytest.mark.parametrize("speed", [0.7, 1.25])
def test_centroid_velocity_and_direction(direction: float, speed: float) -> None:
    movie = generate_moving_bar(
        (1, 40, 64, 64),
        width=3,
        length=10,
        speed=speed,
        direction=direction,
        start_position=-20,
        background=0.0,
    )[0]
    col, row, mass = _centroids(movie, 0.0)
    measured_speed, measured_direction = _velocity(col, row)
    assert measured_speed == pytest.approx(speed, rel=0.01)
    assert _angle_error(measured_direction, direction) < 0.5
    # Fully on screen: the bar keeps its area (width x length) while it moves.
    np.testing.assert_allclose(mass, 30.0, rtol=0.03)


def test_direction_convention_on_screen() -> None:
    """0 = toward +column (right), 90 = toward -row (up), 180 = left, 270 = down."""
    expected = {0: (1, 0), 90: (0, -1), 180: (-1, 0), 270: (0, 1)}
    for direction, (sign_col, sign_row) in expected.items():
        movie = generate_moving_bar(
            (1, 10, 20, 20), width=2, length=4, speed=1, direction=direction, start_position=-4
        )
        col, row, _ = _centroids(movie[0], -1.0)
        d_col, d_row = col[-1] - col[0], row[-1] - row[0]
        assert np.sign(np.round(d_col, 6)) == sign_col and np.sign(np.round(d_row, 6)) == sign_row, direction


def test_width_bar_length_and_default_entry() -> None:
    movie = generate_moving_bar((1, 40, 16, 30), width=2.5, speed=0.5, direction=0, background=0.0)[0]
    assert (movie[0] == 0).all(), "the bar starts just outside the screen"
    assert movie[1].sum() > 0, "and enters on the next frame"
    # Infinite length: each row holds width pixels of bar once the bar is fully on screen (antialiased edges).
    np.testing.assert_allclose(movie[20].sum(axis=1), 2.5, atol=1e-5)
    hard = generate_moving_bar((1, 30, 16, 30), width=3, speed=1, antialias=False, background=0.0)[0]
    assert set(np.unique(hard)) == {0.0, 1.0} and hard[20].sum(axis=1).tolist() == [3.0] * 16

    coloured = generate_moving_bar((2, 20, 10, 10), bar_intensity=[1.0, 0.5], background=[-1.0, 0.1])
    assert coloured[0].max() == 1.0 and coloured[1].max() == 0.5 and coloured[1].min() == pytest.approx(0.1)


def test_protocol_directions_order_and_equal_speed() -> None:
    frames_per_direction = 40
    movie = generate_moving_bar_protocol(
        (1, 8 * frames_per_direction, 32, 32), width=3, length=8, background=0.0
    )[0]
    speeds, directions = [], []
    for segment in np.split(movie, 8):
        col, row, mass = _centroids(segment, 0.0)
        full = mass >= 0.99 * mass.max()  # frames with the bar's full cross-section on screen
        assert full.sum() >= 5
        t = np.flatnonzero(full)
        v_col, v_row = np.polyfit(t, col[full], 1)[0], np.polyfit(t, row[full], 1)[0]
        speeds.append(np.hypot(v_col, v_row))
        directions.append(np.degrees(np.arctan2(-v_row, v_col)) % 360)
        # The bar crosses the screen centre in the middle of its segment.
        mid = (frames_per_direction - 1) / 2
        assert np.polyval(np.polyfit(t, col[full], 1), mid) == pytest.approx(15.5, abs=0.05)
        assert np.polyval(np.polyfit(t, row[full], 1), mid) == pytest.approx(15.5, abs=0.05)
        assert segment[0].max() < 1.0 and segment[-1].max() < 1.0, "each sweep starts and ends off screen"
    for measured, expected in zip(directions, (0, 180, 45, 225, 90, 270, 135, 315)):
        assert _angle_error(measured, expected) < 1.0
    np.testing.assert_allclose(speeds, speeds[0], rtol=0.02)


def test_protocol_frame_rate_and_shape_checks() -> None:
    movie = generate_moving_bar_protocol((2, 984, 18, 16), frame_rate=30.0)
    assert movie.shape == (2, 984, 18, 16) and movie.dtype == np.float32
    assert generate_moving_bar_protocol((1, 8 * 246, 18, 16), frame_rate=60.0).shape[1] == 1968
    with pytest.raises(ValueError, match="984"):
        generate_moving_bar_protocol((1, 992, 18, 16), frame_rate=30.0)
    with pytest.raises(ValueError, match="multiple of 8"):
        generate_moving_bar_protocol((1, 100, 18, 16))
    with pytest.raises(ValueError):
        generate_moving_bar((1, 10, 8, 8), width=0)
