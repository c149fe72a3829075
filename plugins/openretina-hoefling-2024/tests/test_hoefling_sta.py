"""End to end: the synthetic files' LN filters are recovered by a spike-triggered average of the loader's batches.

The synthetic traces are the LN model's rate sampled at 7.8 Hz, so the loader's 30 Hz responses are the rate
smoothed over about one imaging interval; with 14,000 frames of 2x18x16 white noise, the STA of the rate
itself (no imaging) reaches a correlation of about 0.79 with the true filters. Tolerance: the median
per-neuron correlation must be at least 0.55 (measured about 0.65 for every session). A single misaligned
clip order, a missing eye flip or an ignored erratum brings it below 0.2.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from openretina_hoefling_2024.dataloaders import natmov_dataloaders_v2
from openretina_hoefling_2024.responses import get_all_responses
from openretina_hoefling_2024.stimuli import get_all_movies

from openretina_core import get_dataloaders
from openretina_core.data import ResponsesTrainTestSplit, filter_correlation, spike_triggered_average
from openretina_core.registry import SyntheticSample

MIN_MEDIAN_CORRELATION = 0.55
MAX_MISALIGNED_CORRELATION = 0.2


def fast_sta(batches: Any, filter_length: int) -> np.ndarray:
    """``openretina_core.data.spike_triggered_average`` computed with one matrix product per lag.

    Same estimate (bins with a full history inside each chunk, response-weighted mean minus the mean
    stimulus), in float32 without the 6-D lag tensor, so a whole session takes a fraction of a second.
    """
    k = filter_length
    weighted: list[torch.Tensor] = []
    stimulus: list[torch.Tensor] = []
    response_sum, n_bins = 0.0, 0
    for inputs, targets in batches:
        _, c, t, h, w = inputs.shape
        frames = inputs.permute(0, 2, 1, 3, 4)  # (B, T, C, H, W)
        r = targets[:, k - 1 :].reshape(-1, targets.shape[-1])  # (B*T', N)
        for lag in range(k):
            x = frames[:, k - 1 - lag : t - lag].reshape(r.shape[0], -1)  # (B*T', C*H*W)
            if len(weighted) < k:
                weighted.append(r.T @ x)
                stimulus.append(x.sum(dim=0))
            else:
                weighted[lag] += r.T @ x
                stimulus[lag] += x.sum(dim=0)
        response_sum = response_sum + r.sum(dim=0)
        n_bins += r.shape[0]
    estimate = torch.stack(weighted, 1) / response_sum.clamp_min(1e-12)[:, None, None]  # type: ignore[union-attr]
    estimate = estimate - torch.stack(stimulus, 0)[None] / n_bins  # (N, K, C*H*W)
    return estimate.reshape(-1, k, c, h, w).permute(0, 2, 1, 3, 4).numpy()


def _median_correlation(loaders: Any, session: str, truth: np.ndarray) -> float:
    batches = [*loaders["train"][session], *loaders["validation"][session]]
    estimate = fast_sta(batches, filter_length=truth.shape[2])
    return float(np.median(filter_correlation(estimate, truth)))


def test_fast_sta_equals_core_sta(hoefling_sample: SyntheticSample, sample_data: tuple[dict, Any]) -> None:
    responses, movies = sample_data
    session = "session_3_ventral2_20200707"
    loaders = natmov_dataloaders_v2({session: responses[session]}, movies, [0], batch_size=8)
    batches = list(loaders["train"][session])[:3]
    np.testing.assert_allclose(fast_sta(batches, 10), spike_triggered_average(batches, 10), atol=1e-4)


@pytest.fixture(scope="module")
def sample_data(hoefling_sample: SyntheticSample) -> tuple[dict, Any]:
    return get_all_responses(data_dir=hoefling_sample.data_dir), get_all_movies(
        data_dir=hoefling_sample.data_dir
    )


def test_sta_recovers_filters_through_the_registry(hoefling_sample: SyntheticSample) -> None:
    loaders = get_dataloaders("hoefling_2024", data_dir=hoefling_sample.data_dir, batch_size=32)
    assert set(loaders["train"]) == set(hoefling_sample.filters)
    for session, truth in hoefling_sample.filters.items():
        assert loaders.data_info["n_neurons_dict"][session] == truth.shape[0]
        correlation = _median_correlation(loaders, session, truth)
        assert correlation >= MIN_MEDIAN_CORRELATION, (session, correlation)


def _with_kwargs(responses: ResponsesTrainTestSplit, **changes: Any) -> ResponsesTrainTestSplit:
    return ResponsesTrainTestSplit(
        train=responses.train,
        test_dict=responses.test_dict,
        test_by_trial_dict=responses.test_by_trial_dict,
        stim_id=responses.stim_id,
        session_kwargs={**responses.session_kwargs, **changes},
    )


def test_misalignment_is_detected(hoefling_sample: SyntheticSample, sample_data: tuple[dict, Any]) -> None:
    responses, movies = sample_data
    left, errata = "session_1_ventral1_20200226", "session_2_ventral2_20200626"
    wrong = {
        "unflipped_left": _with_kwargs(responses[left], eye="right"),
        "wrong_sequence": _with_kwargs(responses[left], scan_sequence_idx=2),
    }
    for name, bad in wrong.items():
        loaders = natmov_dataloaders_v2({left: bad}, movies, validation_clip_indices=[0, 1], batch_size=32)
        correlation = _median_correlation(loaders, left, hoefling_sample.filters[left])
        assert correlation < MAX_MISALIGNED_CORRELATION, (name, correlation)
    # The errata field is mirrored only if its file label ("left") were trusted: undoing the correction by
    # flipping the truth instead shows the loaders did apply it.
    loaders = natmov_dataloaders_v2(
        {errata: responses[errata]}, movies, validation_clip_indices=[0, 1], batch_size=32
    )
    truth = hoefling_sample.filters[errata]
    assert _median_correlation(loaders, errata, truth) >= MIN_MEDIAN_CORRELATION
    assert _median_correlation(loaders, errata, truth[..., ::-1]) < MAX_MISALIGNED_CORRELATION


def test_single_sequence_sample(hoefling_single_sequence: SyntheticSample) -> None:
    loaders = get_dataloaders("hoefling_2024", data_dir=hoefling_single_sequence.data_dir, batch_size=32)
    for session, truth in hoefling_single_sequence.filters.items():
        assert _median_correlation(loaders, session, truth) >= MIN_MEDIAN_CORRELATION
