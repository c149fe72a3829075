"""Known-ground-truth responses for synthetic data: a linear-nonlinear-Poisson (LNP) model of ganglion cells.

Every plugin's ``write_sample`` uses this so that synthetic files contain responses a model (or a
spike-triggered average) can actually recover, not noise. Filters are indexed by lag: ``filters[n, c, k]``
weights the frame ``k`` bins before the response bin (``k = 0`` is the same bin).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from attrs import define


@define(frozen=True, eq=False)
class LNPModel:
    """Separable LN filters: ``spatial (N, C, H, W)`` times ``temporal (N, T_filter)``, then softplus."""

    spatial: np.ndarray
    temporal: np.ndarray
    offset: float = -1.0
    gain: float = 3.0

    @property
    def filters(self) -> np.ndarray:
        """Full filters ``(N, C, T_filter, H, W)``, unit norm per neuron."""
        return np.einsum("nchw,nk->nckhw", self.spatial, self.temporal).astype(np.float32)

    @property
    def n_neurons(self) -> int:
        return int(self.spatial.shape[0])


def make_lnp_model(
    n_neurons: int,
    channels: int,
    height: int,
    width: int,
    filter_length: int = 10,
    seed: int = 0,
    rf_sigma: float | None = None,
) -> LNPModel:
    """Random centre-surround receptive fields with biphasic temporal kernels, each of unit norm."""
    rng = np.random.default_rng(seed)
    sigma = rf_sigma if rf_sigma is not None else max(1.0, min(height, width) / 8)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    margin_y, margin_x = min(height / 4, 2 * sigma), min(width / 4, 2 * sigma)
    centres_y = rng.uniform(margin_y, height - 1 - margin_y, n_neurons)
    centres_x = rng.uniform(margin_x, width - 1 - margin_x, n_neurons)
    polarity = rng.choice([-1.0, 1.0], n_neurons)
    dist2 = (yy[None] - centres_y[:, None, None]) ** 2 + (xx[None] - centres_x[:, None, None]) ** 2
    centre = np.exp(-dist2 / (2 * sigma**2))
    surround = 0.3 * np.exp(-dist2 / (2 * (2 * sigma) ** 2))
    spatial_1 = polarity[:, None, None] * (centre - surround)
    channel_weights = rng.uniform(0.5, 1.0, (n_neurons, channels))
    spatial = channel_weights[:, :, None, None] * spatial_1[:, None]
    lags = np.arange(filter_length, dtype=np.float64)
    peak = rng.uniform(1.0, max(1.5, filter_length / 4), n_neurons)
    temporal = (lags[None] / peak[:, None]) * np.exp(1 - lags[None] / peak[:, None])
    temporal -= 0.4 * (lags[None] / (2 * peak[:, None])) * np.exp(1 - lags[None] / (2 * peak[:, None]))
    full_norm = np.sqrt((spatial**2).sum(axis=(1, 2, 3)) * (temporal**2).sum(axis=1))
    spatial /= np.sqrt(full_norm)[:, None, None, None]
    temporal /= np.sqrt(full_norm)[:, None]
    return LNPModel(spatial=spatial.astype(np.float32), temporal=temporal.astype(np.float32))


def linear_drive(model: LNPModel, movie: np.ndarray) -> np.ndarray:
    """Causal spatiotemporal filtering of a ``(C, T, H, W)`` movie: returns ``(N, T)``."""
    movie_t = torch.from_numpy(np.ascontiguousarray(movie, dtype=np.float32))
    spatial = torch.from_numpy(model.spatial)
    projected = torch.einsum("nchw,cthw->nct", spatial, movie_t)  # (N, C, T)
    n, c, t = projected.shape
    k = model.temporal.shape[1]
    kernel = torch.from_numpy(model.temporal).flip(-1)  # conv1d is a correlation
    weight = kernel[:, None, :].repeat_interleave(c, dim=0)  # (N*C, 1, K)
    padded = torch.nn.functional.pad(projected.reshape(1, n * c, t), (k - 1, 0))
    out = torch.nn.functional.conv1d(padded, weight, groups=n * c)
    return out.reshape(n, c, t).sum(dim=1).numpy()


def simulate_responses(
    model: LNPModel,
    movie: np.ndarray,
    seed: int = 0,
    poisson: bool = True,
    bins_per_frame: int = 1,
) -> np.ndarray:
    """Rates (or Poisson spike counts) ``(N, T)`` of the LNP model for a ``(C, T, H, W)`` movie."""
    drive = linear_drive(model, movie)
    drive = drive / (drive.std(axis=1, keepdims=True) + 1e-8)
    rate = np.logaddexp(0.0, model.gain * drive + model.offset).astype(np.float32)
    if not poisson:
        return rate
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate * bins_per_frame)
    return counts.astype(np.float32)


def spike_triggered_average(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]], filter_length: int, neurons: int | None = None
) -> np.ndarray:
    """Estimate ``(N, C, filter_length, H, W)`` filters from ``(inputs (B,C,T,H,W), targets (B,T,N))`` batches.

    Uses only bins with a full history inside each chunk, subtracts the mean stimulus, and divides by the
    total response, so the estimate is a proper response-weighted average.
    """
    sta: torch.Tensor | None = None
    mean_stim: torch.Tensor | None = None
    total_resp: torch.Tensor | None = None
    n_bins = 0
    k = filter_length
    for inputs, targets in batches:
        x = inputs.detach().to("cpu", torch.float64)
        r = targets.detach().to("cpu", torch.float64)
        if neurons is not None:
            r = r[..., :neurons]
        _, c, t, h, w = x.shape
        if t < k:
            raise ValueError(f"chunks of {t} frames are shorter than the filter length {k}")
        r_valid = r[:, k - 1 :].reshape(-1, r.shape[-1])  # (B*T', N): bins with a full history
        part = torch.empty((r.shape[-1], c, k, h, w), dtype=torch.float64)
        part_mean = torch.empty((c, k, h, w), dtype=torch.float64)
        for lag in range(k):  # one matrix product per lag; no (lags x movie) temporary
            lagged = x[:, :, k - 1 - lag : t - lag].permute(0, 2, 1, 3, 4).reshape(-1, c * h * w)
            part[:, :, lag] = (r_valid.T @ lagged).reshape(-1, c, h, w)
            part_mean[:, lag] = lagged.sum(dim=0).reshape(c, h, w)
        sta = part if sta is None else sta + part
        mean_stim = part_mean if mean_stim is None else mean_stim + part_mean
        resp = r_valid.sum(dim=0)
        total_resp = resp if total_resp is None else total_resp + resp
        n_bins += r_valid.shape[0]
    if sta is None or mean_stim is None or total_resp is None:
        raise ValueError("no batches were given")
    mean_stim = mean_stim / n_bins
    weights = total_resp.clamp_min(1e-12)[:, None, None, None, None]
    estimate = sta / weights - mean_stim[None]
    return estimate.to(torch.float32).numpy()


def filter_correlation(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Pearson correlation per neuron between estimated and true filters (both ``(N, ...)``)."""
    est = estimate.reshape(estimate.shape[0], -1).astype(np.float64)
    tru = truth.reshape(truth.shape[0], -1).astype(np.float64)
    est = est - est.mean(axis=1, keepdims=True)
    tru = tru - tru.mean(axis=1, keepdims=True)
    denom = np.sqrt((est**2).sum(axis=1) * (tru**2).sum(axis=1)) + 1e-12
    return (est * tru).sum(axis=1) / denom
