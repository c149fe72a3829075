"""Synthetic files in the published layout, with known ground truth (for tests, demos and benchmarks).

``write_sample(root)`` writes ``<root>/stimuli/rgc_natstim_18x16_joint_normalized_2024-01-11.pkl`` (a white-
noise "movie" with the real keys and shapes) and ``<root>/responses/rgc_natstim_2024-08-14.h5`` (fields with
the real keys, shapes and storage: every per-ROI array has the ROI axis first, ``<s>_trigger_times`` has one
identical row per ROI, ``eye`` and ``scan_sequence_idx`` are group attributes; openretina 1.1.1's
``load_h5_into_dict`` / ``filter_responses`` / ``make_final_responses`` read it). Each field's natural-movie
traces come from an LN model (``openretina_core.data``) driven by the movie exactly as that field saw it:
clips in its sequence order, test blocks in between, mirrored for left eyes. The rate is sampled at an
imaging rate of ~7.8 Hz with per-ROI scan-line offsets and one trigger every ~4.97 s, so the loader's
resampling and splitting are exercised end to end and a spike-triggered average of the loader's batches
recovers the filters (smoothed in time by the imaging rate).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import define

from openretina_core.data import LNPModel, make_lnp_model, simulate_responses
from openretina_core.registry import SyntheticSample
from openretina_hoefling_2024 import constants as c
from openretina_hoefling_2024.filtering import QualityFilter

IMAGING_RATE_HZ = 7.8125  # 64 lines x 2 ms
LINE_S = 0.002
TRIGGER_INTERVAL_S = 4.97
N_TYPES = 46


@define(frozen=True)
class FieldSpec:
    """One synthetic field: how it is labelled and stored (to exercise every branch of the reader)."""

    name: str
    eye: str  # as written in the file
    true_eye: str  # as the LN model saw the movie
    sequence: int
    n_rois: int
    time_layout: str  # "times" (<s>_traces_times) or "t0dt" (<s>_traces_t0 / <s>_traces_dt)
    spikes_key: str  # "inferred_spikes" or "spikes"
    amacrine_only: bool = False  # every ROI fails the default cell-type filter


DEFAULT_FIELDS = (
    FieldSpec("session_1_ventral1_20200226", "left", "left", 0, 32, "times", "inferred_spikes"),
    FieldSpec("session_2_ventral2_20200626", "left", "right", 1, 28, "t0dt", "inferred_spikes"),  # errata
    FieldSpec("session_3_ventral2_20200707", "right", "right", 2, 36, "times", "spikes"),
    FieldSpec(
        "session_4_ventral1_20201021", "left", "left", 0, 20, "t0dt", "inferred_spikes", amacrine_only=True
    ),
)


def presentation_movie(
    train: np.ndarray, test: np.ndarray, order: np.ndarray, clip_length: int = c.CLIP_LENGTH
) -> np.ndarray:
    """``(C, 123 * clip_length, H, W)``: test / 54 clips / test / 54 clips / test, clips in ``order``."""
    half = len(order) // 2
    blocks = [
        test,
        *_clips(train, order[:half], clip_length),
        test,
        *_clips(train, order[half:], clip_length),
        test,
    ]
    return np.concatenate(blocks, axis=1)


def _clips(train: np.ndarray, clips: Sequence[int] | np.ndarray, clip_length: int) -> list[np.ndarray]:
    return [train[:, k * clip_length : (k + 1) * clip_length] for k in clips]


def _roi_layout(rng: np.random.Generator, n_rois: int) -> tuple[np.ndarray, np.ndarray]:
    """A 64x64 roi_mask (background 1, ROI r = -r, 3x3 squares on a grid) and each ROI's centre row."""
    mask = np.ones((64, 64), dtype=np.int32)
    cells = rng.choice(15 * 15, size=n_rois, replace=False)
    rows = np.empty(n_rois, dtype=np.int64)
    for r, cell in enumerate(cells, start=1):
        y, x = 2 + 4 * (cell // 15), 2 + 4 * (cell % 15)
        mask[y : y + 3, x : x + 3] = -r
        rows[r - 1] = y + 1
    return mask, rows


def _quality(rng: np.random.Generator, n_rois: int, amacrine_only: bool) -> dict[str, np.ndarray]:
    groups = rng.integers(33, 47, n_rois) if amacrine_only else rng.integers(1, 33, n_rois)
    if not amacrine_only:  # a few displaced amacrine cells among the RGCs
        groups[rng.choice(n_rois, size=max(1, n_rois // 8), replace=False)] = rng.integers(33, 47)
    confidences = rng.dirichlet(np.full(N_TYPES, 0.3), n_rois) * 0.1
    confidences[np.arange(n_rois), groups - 1] = rng.uniform(0.15, 0.95, n_rois)
    return {
        "group_assignment": groups.astype(np.int64),
        "group_confidences": confidences.astype(np.float64),
        "d_qi": rng.uniform(0.0, 1.0, n_rois),
        "chirp_qi": rng.uniform(0.0, 0.7, n_rois),
    }


def _sample_times(
    rng: np.random.Generator, rows: np.ndarray, start: float, stop: float
) -> tuple[np.ndarray, float]:
    """Per-ROI first sample times (field start + scan-line offset) and the number of samples."""
    dt = 1.0 / IMAGING_RATE_HZ
    t0 = start + rows * LINE_S
    n_samples = int(np.ceil((stop - start) / dt))
    return t0, n_samples


def _write_traces(
    group: Any,
    stim: str,
    spec: FieldSpec,
    rate_times: np.ndarray,
    rates: np.ndarray,
    triggers: np.ndarray,
    rows: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Sample ``rates`` (N, F) given at ``rate_times`` at each ROI's imaging times and write every trace type."""
    t0, n_samples = _sample_times(rng, rows, rate_times[0] - 3.0, rate_times[-1] + 3.0)
    dt = 1.0 / IMAGING_RATE_HZ
    times = t0[:, None] + dt * np.arange(n_samples)[None, :]
    spikes = np.stack([np.interp(times[i], rate_times, rates[i]) for i in range(len(rates))])
    spikes = np.clip(spikes + rng.normal(0.0, 0.01, spikes.shape), 0.0, None).astype(np.float32)
    kernel = np.exp(-np.arange(0.0, 2.0, dt) / 0.4)
    calcium = np.stack([np.convolve(s, kernel)[:n_samples] for s in spikes])
    drift = 0.5 * np.sin(2 * np.pi * times / 300.0 + rng.uniform(0, 2 * np.pi, (len(rates), 1))) + 2.0
    raw = (calcium + drift + rng.normal(0.0, 0.05, calcium.shape)).astype(np.float32)
    smoothed = drift.astype(np.float32)
    detrended = raw - smoothed
    preprocessed = ((detrended - detrended.mean(1, keepdims=True)) / detrended.std(1, keepdims=True)).astype(
        np.float32
    )
    group.create_dataset(f"{stim}_{spec.spikes_key}", data=spikes)
    group.create_dataset(f"{stim}_raw_traces", data=raw)
    group.create_dataset(f"{stim}_smoothed_traces", data=smoothed)
    group.create_dataset(f"{stim}_preprocessed_traces", data=preprocessed)
    # Published form: one row per ROI, all rows equal (the triggers are the field's; readers use row 0).
    group.create_dataset(f"{stim}_trigger_times", data=np.tile(triggers, (len(rates), 1)))
    if spec.time_layout == "times":
        group.create_dataset(f"{stim}_traces_times", data=times)
    else:
        group.create_dataset(f"{stim}_traces_t0", data=t0)
        group.create_dataset(f"{stim}_traces_dt", data=np.full(len(rates), dt))


def _natural_triggers(rng: np.random.Generator, start: float) -> np.ndarray:
    intervals = TRIGGER_INTERVAL_S + rng.uniform(-0.002, 0.002, c.NATURAL_TRIGGERS - 1)
    return start + np.concatenate([[0.0], np.cumsum(intervals)])


def _frame_times(triggers: np.ndarray, stim: str) -> np.ndarray:
    """Frame display times, as the loader assumes them (linspace over the empirical duration)."""
    from openretina_hoefling_2024.upsample import stimulus_frame_times

    return stimulus_frame_times(triggers, stim)


def _write_field(
    handle: Any,
    spec: FieldSpec,
    model: LNPModel,
    movie: dict[str, Any],
    orders: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    group = handle.create_group(spec.name)
    mask, rows = _roi_layout(rng, spec.n_rois)
    quality = _quality(rng, spec.n_rois, spec.amacrine_only)
    presented = presentation_movie(movie["train"], movie["test"], orders[:, spec.sequence])
    if spec.true_eye == "left":
        presented = presented[..., ::-1]
    rates = simulate_responses(model, presented, poisson=False)
    del presented
    triggers = _natural_triggers(rng, start=5.0 + rng.uniform(0, 1))
    _write_traces(group, "natural", spec, _frame_times(triggers, "natural"), rates, triggers, rows, rng)
    # Chirp (2 triggers per 33-s chirp, 5 chirps) and moving bar (8 directions x 3 repeats): same cells,
    # responses are a smooth random drive (no stimulus model; these check containers and timing only).
    chirp_starts = 2.0 + 33.5 * np.arange(5)
    other_triggers = {
        "chirp": np.sort(np.concatenate([chirp_starts, chirp_starts + 5.0])),
        "mb": 3.0 + 4.1 * np.arange(24),
    }
    for stim, trig in other_triggers.items():
        frame_t = _frame_times(trig, stim)
        drive = np.cumsum(rng.normal(0, 0.1, (spec.n_rois, frame_t.size)), axis=1)
        _write_traces(group, stim, spec, frame_t, np.log1p(np.exp(drive)), trig, rows, rng)
    group.create_dataset("roi_ids", data=np.arange(1, spec.n_rois + 1, dtype=np.int64))
    for key, value in quality.items():
        group.create_dataset(key, data=value)
    group.create_dataset("roi_mask", data=mask)
    # Per-field values are group attributes (a str and an integer), not datasets: the reference loader merges
    # attributes into the field's dictionary and masks every array in it along the ROI axis.
    group.attrs["eye"] = spec.eye
    group.attrs["scan_sequence_idx"] = np.int64(spec.sequence)
    return quality


def write_movie_pickle(path: Path, movie: dict[str, Any]) -> None:
    """Write a stimulus pickle with the published keys (protocol 4, as Python 3.8+ writes by default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as handle:
        pickle.dump(movie, handle, protocol=4)
    tmp.replace(path)


def make_movie(rng: np.random.Generator, height: int, width: int, n_sequences: int | None) -> dict[str, Any]:
    """White-noise train/test movies with the published keys (already "normalised": mean 0, std 1)."""
    movie: dict[str, Any] = {
        "train": rng.standard_normal((2, c.NUM_CLIPS * c.CLIP_LENGTH, height, width), dtype=np.float32),
        "test": rng.standard_normal((2, c.NUM_TEST_CLIPS * c.CLIP_LENGTH, height, width), dtype=np.float32),
        "movie_stats": {"dichromatic": {"mean": np.array([36.98]), "sd": np.array([36.98])}},
    }
    if n_sequences is not None:
        movie["random_sequences"] = np.stack(
            [rng.permutation(c.NUM_CLIPS) for _ in range(n_sequences)], axis=1
        ).astype(np.uint8)
    return movie


def write_sample(
    root: str | Path,
    seed: int = 0,
    *,
    n_sequences: int | None = 3,
    filter_length: int = 10,
    fields: Sequence[FieldSpec] = DEFAULT_FIELDS,
) -> SyntheticSample:
    """Write the synthetic responses HDF5 and 18x16 stimulus pickle under ``root``.

    ``n_sequences=None`` writes a pickle without ``random_sequences`` (every field saw the clips in order).
    Returns the folder and, per session kept by the default quality filters, the true LN filters
    ``(N, 2, filter_length, 18, 16)`` in the stimulus space the loaders return.
    """
    import h5py

    root = Path(root)
    rng = np.random.default_rng(seed)
    height, width = c.STIMULUS_SHAPES["18x16"]
    movie = make_movie(rng, height, width, n_sequences)
    orders = (
        movie["random_sequences"].astype(np.int64)
        if n_sequences is not None
        else np.arange(c.NUM_CLIPS, dtype=np.int64)[:, None]
    )
    responses_path = root / c.RESPONSES_FILE
    responses_path.parent.mkdir(parents=True, exist_ok=True)
    filters: dict[str, np.ndarray] = {}
    default_filter = QualityFilter()
    with h5py.File(responses_path, "w") as handle:
        for index, spec in enumerate(fields):
            if spec.sequence >= orders.shape[1]:
                spec = FieldSpec(**{**_as_dict(spec), "sequence": 0})
            model = make_lnp_model(spec.n_rois, 2, height, width, filter_length, seed=seed * 1000 + index)
            quality = _write_field(handle, spec, model, movie, orders, rng)
            keep = default_filter.roi_mask(quality, spec.n_rois)
            if default_filter.field_passes(int(keep.sum())):
                filters[spec.name] = model.filters[keep]
    write_movie_pickle(root / c.STIMULUS_FILES["18x16"], movie)
    return SyntheticSample(data_dir=root, filters=filters, options={})


def _as_dict(spec: FieldSpec) -> dict[str, Any]:
    from attrs import asdict

    return asdict(spec)
