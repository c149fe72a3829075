"""Gratings: spatial frequency, orientation, drift direction and temporal frequency measured by FFT."""

from __future__ import annotations

import numpy as np
import pytest
from openretina_stimuli import generate_gratings


def _peak_frequency_2d(frame: np.ndarray, pad: int = 512) -> tuple[float, float]:
    """(f_row, f_col) in cycles per pixel of the strongest component (half-plane f_col >= 0)."""
    window = np.outer(np.hanning(frame.shape[0]), np.hanning(frame.shape[1]))
    power = np.abs(np.fft.fft2((frame - frame.mean()) * window, s=(pad, pad))) ** 2
    freqs = np.fft.fftfreq(pad)
    power[:, freqs < 0] = 0
    row, col = np.unravel_index(np.argmax(power), power.shape)
    return float(freqs[row]), float(freqs[col])


def test_seed_page_call_runs_verbatim() -> None:
    grating = generate_gratings(
        shape=(2, 30, 16, 18),  # (channels, time, height, width)
        temporal_frequency=2.0,  # Hz
        spatial_frequency=0.1,  # cycles per pixel
        orientation=45,  # degrees
    )
    assert grating.shape == (2, 30, 16, 18) and grating.dtype == np.float32
    assert np.isfinite(grating).all() and -1.0 <= grating.min() < -0.9 and 0.9 < grating.max() <= 1.0


@pytest.mark.parametrize("orientation", [0.0, 30.0, 45.0, 90.0, 135.0, 160.0])
@pytest.mark.parametrize("spatial_frequency", [0.05, 0.125, 0.2])
def test_spatial_frequency_and_orientation_from_2d_fft(orientation: float, spatial_frequency: float) -> None:
    frame = generate_gratings((1, 1, 64, 64), spatial_frequency=spatial_frequency, orientation=orientation)[
        0, 0
    ]
    f_row, f_col = _peak_frequency_2d(frame)
    assert np.hypot(f_row, f_col) == pytest.approx(spatial_frequency, abs=0.003)
    # The wave vector of the stripes, in screen angles (up = -row): defined modulo 180 in a single frame.
    measured = np.degrees(np.arctan2(-f_row, f_col)) % 180
    error = (measured - orientation % 180 + 90) % 180 - 90
    assert abs(error) < 1.0


@pytest.mark.parametrize("direction", [0, 45, 90, 135, 180, 225, 270, 315, 20])
def test_drift_direction_from_spatiotemporal_fft(direction: float) -> None:
    # 4 Hz at 32 Hz over 32 frames; the (f_t > 0) peak of sin(2π(k·p - f t)) sits at -k: k = -(f_row, f_col).
    movie = generate_gratings(
        (1, 32, 48, 48), temporal_frequency=4.0, spatial_frequency=0.1, orientation=direction, frame_rate=32.0
    )[0]
    spectrum = np.abs(np.fft.fftn(movie, s=(32, 256, 256), axes=(0, 1, 2))) ** 2
    f_t, f_row, f_col = (np.fft.fftfreq(n) for n in (32, 256, 256))
    spectrum[f_t <= 0] = 0
    i_t, i_row, i_col = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    assert f_t[i_t] * 32.0 == pytest.approx(4.0)
    # Screen angle of the motion: d = (d_col, d_row) = (cos a, -sin a) and k is parallel to d.
    k_col, k_row = -f_col[i_col], -f_row[i_row]
    measured = np.degrees(np.arctan2(-k_row, k_col)) % 360
    assert abs((measured - direction + 180) % 360 - 180) < 1.5


@pytest.mark.parametrize(("frame_rate", "frequency"), [(30.0, 2.0), (60.0, 3.7), (120.0, 11.0)])
def test_temporal_frequency_from_one_pixel(frame_rate: float, frequency: float) -> None:
    movie = generate_gratings(
        (1, int(4 * frame_rate), 9, 9),
        temporal_frequency=frequency,
        spatial_frequency=0.1,
        frame_rate=frame_rate,
    )
    series = movie[0, :, 2, 7].astype(np.float64)
    pad = 1 << 16
    power = np.abs(np.fft.rfft((series - series.mean()) * np.hanning(series.size), n=pad))
    peak_hz = np.fft.rfftfreq(pad, d=1.0 / frame_rate)[np.argmax(power)]
    assert peak_hz == pytest.approx(frequency, abs=0.02)


def test_default_frame_rate_is_30_hz() -> None:
    movie = generate_gratings((1, 60, 5, 5), temporal_frequency=2.0, spatial_frequency=0.1)
    # 2 Hz at 30 Hz repeats every 15 frames and not before.
    np.testing.assert_allclose(movie[:, 15:], movie[:, :-15], atol=1e-5)
    assert np.abs(movie[:, 7:] - movie[:, :-7]).max() > 0.5


def test_square_wave_contrast_mean_and_phase() -> None:
    square = generate_gratings(
        (1, 1, 1, 400), spatial_frequency=0.05, waveform="square", temporal_frequency=0
    )
    assert set(np.unique(square)) == {-1.0, 1.0}
    assert (square > 0).mean() == pytest.approx(0.5, abs=0.01)
    spectrum = np.abs(np.fft.rfft(square[0, 0, 0]))
    freqs = np.fft.rfftfreq(400)
    assert freqs[np.argmax(spectrum)] == pytest.approx(0.05)
    assert spectrum[np.argmin(np.abs(freqs - 0.15))] / spectrum.max() == pytest.approx(1 / 3, abs=0.02)

    two = generate_gratings((2, 1, 64, 64), spatial_frequency=0.125, contrast=[0.5, 0.2], mean=[0.0, 0.3])
    assert two[0].std() == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
    assert two[1].std() == pytest.approx(0.2 / np.sqrt(2), rel=0.01)
    assert two[1].mean() == pytest.approx(0.3, abs=1e-3)

    centre = generate_gratings((1, 1, 9, 9), phase=90.0, spatial_frequency=0.1, temporal_frequency=0)
    assert centre[0, 0, 4, 4] == pytest.approx(1.0)


def test_time_major_layout_has_the_same_values() -> None:
    plain = generate_gratings((3, 10, 8, 8), orientation=30)
    time_major = generate_gratings((3, 10, 8, 8), orientation=30, time_major=True)
    assert time_major.transpose(1, 0, 2, 3).flags.c_contiguous
    np.testing.assert_array_equal(plain, time_major)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"spatial_frequency": 0.6},
        {"temporal_frequency": 20.0},
        {"waveform": "triangle"},
        {"shape": (2, 30, 16)},
        {"shape": (2, 0, 16, 16)},
        {"contrast": [1.0, 2.0, 3.0]},
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_gratings(**{"shape": (2, 5, 8, 8), **kwargs})
