"""Small synthetic files in exactly the published layout, with responses of a known LNP model.

``write_sample(root)`` writes
``<root>/neural_code_data/ganglion_cell_data/<session>/{naturalscene,whitenoise}.h5`` (plus an
``interneuron_data/`` folder the loaders must ignore). Stimuli are 50x50 frames at 100 Hz made of 5-pixel
checks, new every frame, so a spike-triggered average recovers the model's filters: ``naturalscene``
has 1/f-correlated gray levels, ``whitenoise`` binary checks. Both are stored gzip-compressed (a few MB per
file). Responses come from :mod:`openretina_core.data`: ``binned`` = Poisson spike counts per 10-ms bin,
``firing_rate_Xms`` = those counts smoothed by a Gaussian of X ms, in spikes/s. As in the real files the test
responses and repeats are one bin longer than the test stimulus; the first session stores its repeats as
``test/repeats/cellNN`` (spike counts), the others as ``test/repeats/<response_type>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from openretina_core.data import LNPModel, RunningMoments, make_lnp_model, simulate_responses
from openretina_core.registry import SyntheticSample
from openretina_maheswaranathan_2023.constants import (
    ARCHIVE_DIR,
    FRAME_RATE_HZ,
    FRAME_SHAPE,
    GANGLION_DIR,
    INTERNEURON_DIR,
    PUBLISHED_SESSIONS,
    RESPONSE_TYPES,
    STIM_TYPES,
)

CHECK_PX = 5
SMOOTHING_MS = {"firing_rate_5ms": 5.0, "firing_rate_10ms": 10.0, "firing_rate_20ms": 20.0}
DEFAULT_CELLS = (9, 7, 8)


def session_names(n_sessions: int) -> list[str]:
    """The published session names first, then made-up ones in the same style."""
    if n_sessions < 1:
        raise ValueError(f"n_sessions must be at least 1, got {n_sessions}")
    extra = [f"16-01-{i:02d}" for i in range(1, n_sessions - len(PUBLISHED_SESSIONS) + 1)]
    return [*PUBLISHED_SESSIONS, *extra][:n_sessions]


def checker_movie(rng: np.random.Generator, n_frames: int, stim_type: str) -> np.ndarray:
    """``(T, 50, 50)`` float32 in [0, 1]: 10x10 checks of 5 px, independent frames."""
    n = FRAME_SHAPE[0] // CHECK_PX
    if stim_type == "whitenoise":
        low = rng.integers(0, 2, size=(n_frames, n, n)).astype(np.float32)
    else:  # 1/f amplitude spectrum ("naturalistic"), 16 gray levels
        fy = np.fft.fftfreq(n)[:, None]
        fx = np.fft.fftfreq(n)[None, :]
        radius = np.sqrt(fy**2 + fx**2)
        radius[0, 0] = 1.0 / n
        spectrum = rng.normal(size=(n_frames, n, n)) + 1j * rng.normal(size=(n_frames, n, n))
        field = np.fft.ifft2(spectrum / radius).real
        field = (field - field.mean()) / field.std()
        low = (np.clip(np.round((field / 6 + 0.5) * 15), 0, 15) / 15).astype(np.float32)
    return np.repeat(np.repeat(low, CHECK_PX, axis=1), CHECK_PX, axis=2)


def smooth_counts(counts: np.ndarray, sigma_ms: float) -> np.ndarray:
    """Gaussian-smoothed spike counts along the last axis, in spikes/s (the 10-ms time base is kept)."""
    sigma = sigma_ms / (1000.0 / FRAME_RATE_HZ)
    radius = max(1, int(np.ceil(4 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    flat = counts.reshape(-1, counts.shape[-1]).astype(np.float64)
    out = np.stack([np.convolve(row, kernel, mode="same") for row in flat])
    return (out * FRAME_RATE_HZ).reshape(counts.shape).astype(np.float32)


def response_types(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Every published response type computed from spike counts (time on the last axis)."""
    out = {"binned": counts.astype(np.float32)}
    out.update({name: smooth_counts(counts, sigma) for name, sigma in SMOOTHING_MS.items()})
    return {name: out[name] for name in RESPONSE_TYPES}


def _zscore(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stimulus as the loaders return it (same statistics as the loaders compute)."""
    moments = RunningMoments()
    moments.add(train)
    mean, std = np.float32(moments.mean), np.float32(moments.std)
    return (train - mean) / std, (test - mean) / std


def _store_movie(movie: np.ndarray, dtype: str) -> np.ndarray:
    if np.dtype(dtype) == np.uint8:
        return np.round(movie * 255).astype(np.uint8)
    return movie.astype(dtype)


def write_session_file(
    path: Path,
    model: LNPModel,
    stim_type: str,
    rng: np.random.Generator,
    *,
    n_train: int,
    n_test: int,
    n_repeats: int,
    repeats_layout: str,
    stimulus_dtype: str,
) -> None:
    """One ``<stim_type>.h5`` in the published layout, responses simulated from ``model``."""
    train_stim = _store_movie(checker_movie(rng, n_train, stim_type), stimulus_dtype)
    test_stim = _store_movie(checker_movie(rng, n_test, stim_type), stimulus_dtype)
    z_train, z_test = _zscore(train_stim.astype(np.float32), test_stim.astype(np.float32))
    counts = simulate_responses(model, z_train[None], seed=int(rng.integers(2**31)))
    # The test response has one bin more than the test movie, as in the published files.
    z_test_long = np.concatenate([z_test, z_test[-1:]])
    rate = simulate_responses(model, z_test_long[None], poisson=False)
    repeats = rng.poisson(rate[None], size=(n_repeats, *rate.shape)).astype(np.float32)  # (R, N, T+1)
    train_types = response_types(counts)
    repeat_types = response_types(repeats)
    n_cells = counts.shape[0]
    gzip = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
    movie_chunks = {**gzip, "chunks": (100, *FRAME_SHAPE)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("train/stimulus", data=train_stim, **movie_chunks)
        h5.create_dataset("test/stimulus", data=test_stim, **movie_chunks)
        h5.create_dataset("train/time", data=np.arange(n_train) / FRAME_RATE_HZ)
        h5.create_dataset("test/time", data=np.arange(n_test + 1) / FRAME_RATE_HZ)
        for name in RESPONSE_TYPES:
            h5.create_dataset(f"train/response/{name}", data=train_types[name], **gzip)
            h5.create_dataset(f"test/response/{name}", data=repeat_types[name].mean(axis=0), **gzip)
        if repeats_layout == "cells":
            for cell in range(n_cells):
                h5.create_dataset(f"test/repeats/cell{cell + 1:02d}", data=repeats[:, cell, :], **gzip)
        else:
            for name in RESPONSE_TYPES:
                h5.create_dataset(f"test/repeats/{name}", data=repeat_types[name], **gzip)
        for cell in range(n_cells):
            bins = np.repeat(np.arange(n_train), counts[cell].astype(np.int64))
            times = np.sort((bins + rng.random(bins.size)) / FRAME_RATE_HZ)
            h5.create_dataset(f"spikes/cell{cell + 1:02d}", data=times, **gzip)
        h5.attrs["description"] = f"synthetic {stim_type} session written by openretina_maheswaranathan_2023"


def write_sample(
    root: str | os.PathLike[str],
    seed: int = 0,
    n_sessions: int = 2,
    *,
    n_train: int = 7200,
    n_test: int = 600,
    n_cells: int | tuple[int, ...] | None = None,
    n_repeats: int = 5,
    filter_length: int = 10,
    stimulus_dtype: str = "float32",
) -> SyntheticSample:
    """Write the synthetic dataset under ``root`` and return where it is and the true filters.

    ``data_dir`` of the result is ``<root>/neural_code_data`` (what ``data_dir=`` of the loaders expects);
    ``filters[session]`` is ``(cells, 1, filter_length, 50, 50)``, lag-indexed (see
    :mod:`openretina_core.data`), valid for both stimulus files of a session (same cells).
    """
    names = session_names(n_sessions)
    if n_cells is None:
        cells = [DEFAULT_CELLS[i % len(DEFAULT_CELLS)] for i in range(n_sessions)]
    elif isinstance(n_cells, int):
        cells = [n_cells] * n_sessions
    else:
        cells = list(n_cells)
        if len(cells) != n_sessions:
            raise ValueError(f"n_cells lists {len(cells)} sessions but n_sessions is {n_sessions}")
    data_dir = Path(root).expanduser() / ARCHIVE_DIR
    filters = {}
    for index, (session, n) in enumerate(zip(names, cells)):
        model = make_lnp_model(n, 1, *FRAME_SHAPE, filter_length=filter_length, seed=seed * 1000 + index)
        filters[session] = model.filters
        rng = np.random.default_rng([seed, index])
        for stim_type in STIM_TYPES:
            write_session_file(
                data_dir / GANGLION_DIR / session / f"{stim_type}.h5",
                model,
                stim_type,
                rng,
                n_train=n_train,
                n_test=n_test,
                n_repeats=n_repeats,
                repeats_layout="cells" if index == 0 else "types",
                stimulus_dtype=stimulus_dtype,
            )
    interneuron = data_dir / INTERNEURON_DIR / names[0]
    interneuron.mkdir(parents=True, exist_ok=True)
    with h5py.File(interneuron / "naturalscene.h5", "w") as h5:  # a different layout: must be ignored
        h5.create_dataset("stimulus", data=np.zeros((10, 50, 50), np.float32))
        h5.create_dataset("response", data=np.zeros((10,), np.float32))
    return SyntheticSample(data_dir=data_dir, filters=filters, options={})
