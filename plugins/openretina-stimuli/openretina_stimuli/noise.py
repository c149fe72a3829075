"""Noise stimuli: Gaussian, uniform or binary (checkerboard), white or with Gaussian correlations.

Every distribution is made from one Gaussian latent field per channel: white standard-normal noise on the
noise grid (``pixel_size`` pixels by ``frame_duration`` frames per cell), optionally smoothed with a
unit-energy Gaussian kernel along space and/or time, which keeps unit variance and gives the latent field the
correlation ``exp(-d**2 / (4 * sigma**2))`` at distance ``d`` cells. The latent is then mapped to the
requested marginal: Gaussian as is, uniform through the normal CDF (correlation ``(6/pi) asin(rho/2)``),
binary through its sign (correlation ``(2/pi) asin(rho)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from openretina_stimuli._common import allocate, check_shape, per_channel, positive

DISTRIBUTIONS = ("gaussian", "uniform", "binary", "checkerboard")


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A sampled Gaussian of unit energy (sum of squares 1), radius ``ceil(4 sigma)``."""
    radius = max(1, math.ceil(4 * sigma))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / np.sqrt((kernel**2).sum())


def _smooth_valid(latent: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """Correlate ``latent`` with ``kernel`` along ``axis`` without padding (the axis shrinks by len-1).

    One whole-array multiply-add per kernel tap: fast for the short kernels used here, all in float32.
    """
    n_out = latent.shape[axis] - len(kernel) + 1
    out_shape = list(latent.shape)
    out_shape[axis] = n_out
    out = np.zeros(out_shape, dtype=np.float32)
    window = [slice(None)] * latent.ndim
    for tap, weight in enumerate(kernel.astype(np.float32)):
        window[axis] = slice(tap, tap + n_out)
        out += weight * latent[tuple(window)]
    return out


def _latent_field(
    rng: np.random.Generator, cells: tuple[int, int, int], spatial_sigma: float, temporal_sigma: float
) -> np.ndarray:
    """Standard-normal ``(T_cells, H_cells, W_cells)`` float32 with the requested Gaussian correlations."""
    radius_t = len(gaussian_kernel(temporal_sigma)) // 2 if temporal_sigma > 0 else 0
    radius_s = len(gaussian_kernel(spatial_sigma)) // 2 if spatial_sigma > 0 else 0
    padded = (cells[0] + 2 * radius_t, cells[1] + 2 * radius_s, cells[2] + 2 * radius_s)
    white = rng.standard_normal(padded, dtype=np.float32)
    if radius_t == 0 and radius_s == 0:
        return white
    field = white
    if temporal_sigma > 0:
        field = _smooth_valid(field, gaussian_kernel(temporal_sigma), 0)
    if spatial_sigma > 0:
        kernel = gaussian_kernel(spatial_sigma)
        field = _smooth_valid(_smooth_valid(field, kernel, 1), kernel, 2)
    return field


def generate_noise_stimulus(
    shape: Sequence[int] = (1, 100, 16, 16),
    distribution: str = "gaussian",
    mean: float | Sequence[float] = 0.0,
    std: float | Sequence[float] = 1.0,
    pixel_size: int = 1,
    frame_duration: int = 1,
    spatial_sigma: float = 0.0,
    temporal_sigma: float = 0.0,
    independent_channels: bool = True,
    seed: int = 0,
    time_major: bool = False,
) -> np.ndarray:
    """Random noise, float32 ``(C, T, H, W)`` with the given per-pixel ``mean`` and ``std``.

    ``distribution``: ``"gaussian"``; ``"uniform"`` (on ``mean ± std·√3``); ``"binary"`` or ``"checkerboard"``
    (``mean ± std`` with probability 1/2 each). ``pixel_size`` (pixels) makes square blocks share one value;
    ``frame_duration`` (frames) holds each noise frame. ``spatial_sigma`` / ``temporal_sigma`` (in noise
    pixels / noise frames; 0 = white) correlate the Gaussian latent as the module docstring says.
    ``independent_channels=False`` shows the same noise in every channel. The same ``seed`` gives the same
    stimulus, in either layout (``time_major=True`` returns a view of a ``(T, C, H, W)`` buffer).
    """
    shape = check_shape(shape)
    channels, n_frames, height, width = shape
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, received {distribution!r}")
    for name, value in (("pixel_size", pixel_size), ("frame_duration", frame_duration)):
        if int(value) != value or int(value) < 1:
            raise ValueError(f"{name} must be a positive integer, received {value!r}")
    spatial_sigma = positive(spatial_sigma, "spatial_sigma", allow_zero=True)
    temporal_sigma = positive(temporal_sigma, "temporal_sigma", allow_zero=True)
    offset = per_channel(mean, channels, "mean")
    scale = per_channel(std, channels, "std")
    if (scale < 0).any():
        raise ValueError(f"std must be non-negative, received {std!r}")

    block, hold = int(pixel_size), int(frame_duration)
    cells = (-(-n_frames // hold), -(-height // block), -(-width // block))
    # Index maps from pixels/frames to noise cells: the expansion is one fancy-indexing gather.
    index = np.ix_(np.arange(n_frames) // hold, np.arange(height) // block, np.arange(width) // block)
    rng = np.random.default_rng(seed)
    out = allocate(shape, time_major)
    latent_pixels: np.ndarray | None = None
    for c in range(channels):  # one latent field per channel, drawn in channel order
        if latent_pixels is None or independent_channels:
            latent = _latent_field(rng, cells, spatial_sigma, temporal_sigma)
            latent_pixels = latent[index] if (block, hold) != (1, 1) else latent
            latent_pixels = _to_marginal(latent_pixels, distribution)
        np.multiply(latent_pixels, np.float32(scale[c]), out=out[c])
        out[c] += np.float32(offset[c])
    return out


def _to_marginal(latent: np.ndarray, distribution: str) -> np.ndarray:
    """Map a standard-normal field to a zero-mean, unit-variance field of the requested distribution."""
    if distribution == "gaussian":
        return latent
    if distribution == "uniform":
        cdf = torch.special.ndtr(torch.from_numpy(latent)).numpy()
        return ((2.0 * cdf - 1.0) * np.float32(math.sqrt(3.0))).astype(np.float32, copy=False)
    return np.where(latent >= 0, np.float32(1.0), np.float32(-1.0))
