"""``compute_data_info``: what a model needs to know about the data it is trained on."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from openretina_core.data.containers import MoviesTrainTestSplit, ResponsesTrainTestSplit

logger = logging.getLogger(__name__)

NORM_STAT_TOLERANCE = 1.0


def _first_consistent(values: list[float], name: str) -> float | None:
    """The first session's value; a warning when sessions differ by more than the tolerance (each session was
    then normalised with its own statistics, which ``stim_mean_dict``/``stim_std_dict`` record)."""
    if not values:
        return None
    first = values[0]
    if max(abs(v - first) for v in values) > NORM_STAT_TOLERANCE:
        logger.warning(
            "sessions were normalised with different %s (%s ... %s, tolerance ±%s): each session's own value is "
            "in stim_%s_dict; the scalar is the first session's",
            name,
            min(values),
            max(values),
            NORM_STAT_TOLERANCE,
            name.removeprefix("norm_"),
        )
    return first


def _row_means(array: np.ndarray) -> np.ndarray:
    """Per-neuron mean in float64 accumulation, ignoring NaN, in bounded memory (no full-size temporaries)."""
    out = np.empty(array.shape[0], dtype=np.float32)
    for start in range(0, array.shape[0], 64):
        rows = array[start : start + 64]
        out[start : start + 64] = (
            np.nanmean(rows, axis=1, dtype=np.float64)
            if np.isnan(rows).any()
            else rows.mean(axis=1, dtype=np.float64)
        )
    return out


def _per_session(
    movies: Mapping[str, MoviesTrainTestSplit] | MoviesTrainTestSplit, name: str
) -> dict[str, Any]:
    if isinstance(movies, MoviesTrainTestSplit):
        return {}
    return {s: getattr(m, name) for s, m in sorted(movies.items())}


def get_n_neurons_per_session(responses_dict: Mapping[str, ResponsesTrainTestSplit]) -> dict[str, int]:
    """``{session: number of neurons}``."""
    return {session: responses.n_neurons for session, responses in responses_dict.items()}


@dataclass
class DatasetStatistics:
    """Unique frames and consecutive-frame transitions per split, across sessions (openretina's record of how
    much distinct stimulus a model saw; openretina fills it by iterating the loaders in its evaluation tools)."""

    unique_train_frames: int
    unique_val_frames: int
    unique_train_val_frames: int
    unique_test_frames: dict[str, int]
    unique_train_transitions: int
    unique_val_transitions: int
    unique_test_transitions: dict[str, int]
    n_sessions: int

    @classmethod
    def empty(cls) -> DatasetStatistics:
        """All counts zero."""
        return cls(0, 0, 0, {}, 0, 0, {}, 0)


def compute_data_info(
    neuron_data_dictionary: Mapping[str, ResponsesTrainTestSplit],
    movies_dictionary: Mapping[str, MoviesTrainTestSplit] | MoviesTrainTestSplit,
    partial_data_info: Mapping[str, Any] | None = None,
    val_clip_indices: Mapping[str, list[int]] | None = None,
) -> dict[str, Any]:
    """Per-session neuron counts and mean activity, the ``(C, H, W)`` input shape, the stimulus normalisation,
    session metadata and the chosen validation clips, merged with ``partial_data_info`` (rates, species, ...).

    The argument names are openretina's. Sessions normalised with different statistics are recorded per session
    (``stim_mean_dict``/``stim_std_dict``) with a warning, where openretina raises.
    """
    responses_dict, movies = neuron_data_dictionary, movies_dictionary
    movie_list = [movies] if isinstance(movies, MoviesTrainTestSplit) else [movies[s] for s in sorted(movies)]
    shapes = {m.input_shape for m in movie_list}
    if len(shapes) != 1:
        raise ValueError(f"sessions have different input shapes (C, H, W): {sorted(shapes)}")
    means = [m.norm_mean for m in movie_list if m.norm_mean is not None and np.isfinite(m.norm_mean)]
    stds = [m.norm_std for m in movie_list if m.norm_std is not None and np.isfinite(m.norm_std)]
    stim_mean = _first_consistent(means, "norm_mean")
    stim_std = _first_consistent(stds, "norm_std")
    if stim_mean is None or stim_std is None:
        logger.warning("no stimulus normalisation statistics recorded; using mean 0.0 and std 1.0")
    info: dict[str, Any] = {
        "n_neurons_dict": {s: r.n_neurons for s, r in sorted(responses_dict.items())},
        "mean_activity_dict": {
            s: torch.from_numpy(_row_means(r.train)) for s, r in sorted(responses_dict.items())
        },
        "input_shape": next(iter(shapes)),
        "sessions_kwargs": {s: r.session_kwargs for s, r in sorted(responses_dict.items())},
        "stim_mean": stim_mean if stim_mean is not None else 0.0,
        "stim_std": stim_std if stim_std is not None else 1.0,
        "stim_mean_dict": _per_session(movies, "norm_mean"),
        "stim_std_dict": _per_session(movies, "norm_std"),
        "val_clip_indices": dict(val_clip_indices or {}),
    }
    info.update(partial_data_info or {})
    return info
