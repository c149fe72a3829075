"""Chunk arithmetic (frame overhead, samples per trial, index maps), the overhead dataset and the white-noise
sampler order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from openretina_sridhar_2025.chunks import (
    OverheadMovieDataset,
    TrialBlockSampler,
    chunks_per_trial,
    frame_overhead,
    loader_with_sampler,
    trial_sequence,
)

from openretina_core.data import LongCycler


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"num_of_frames": 30}, 29),  # a single-layer model (openretina's frame_movie_loader default)
        ({"num_of_frames": 1}, 0),
        ({"num_of_frames": [15, 11, 7]}, 14 + 10 + 6),  # the CNN config's temporal_kernel_sizes
        ({"num_of_frames": [15, 11, 7], "num_of_layers": 3}, 30),
        ({"num_of_frames": 30, "temporal_dilation": 2}, 58),
        ({"num_of_frames": [15, 11, 7], "temporal_dilation": 2, "hidden_temporal_dilation": 3}, 28 + 30 + 18),
        ({"num_of_frames": [15, 11, 7], "hidden_temporal_dilation": (2, 4)}, 14 + 20 + 24),
        ({"num_of_frames": [5, 3], "hidden_temporal_dilation": "2"}, 4 + 4),  # configs may pass strings
    ],
)
def test_frame_overhead(kwargs: dict, expected: int) -> None:
    assert frame_overhead(**kwargs) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_of_frames": 30, "num_of_layers": 3}, "one temporal kernel size per layer"),
        ({"num_of_frames": [15, 11], "num_of_layers": 3}, "num_of_layers=3"),
        ({"num_of_frames": [15, 11, 7], "hidden_temporal_dilation": (2,)}, "one per hidden layer"),
        ({"num_of_frames": 0}, "positive kernel sizes"),
        ({"num_of_frames": 3, "temporal_dilation": 0}, "temporal_dilation"),
    ],
)
def test_frame_overhead_refuses_inconsistent_models(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        frame_overhead(**kwargs)


def test_chunks_per_trial_and_index_maps() -> None:
    assert chunks_per_trial(1000, 100, 29) == 9  # floor(971 / 100)
    assert chunks_per_trial(1029, 100, 29) == 10
    assert chunks_per_trial(1029, 100, 29, extra_frame=1) == 9
    assert chunks_per_trial(50, 100, 0) == 0
    movie_index, response_index, starts = trial_sequence(
        [3, 1], frames=10, chunk=3, overhead=2, extra_frame=1
    )
    assert movie_index.tolist() == [*range(30, 40), *range(10, 20)]
    assert response_index.tolist() == [*range(31, 40), 39, *range(11, 20), 19]
    assert starts.tolist() == [0, 3, 10, 13]  # floor((10 - 2 - 1) / 3) = 2 chunks per trial
    # Every sample stays inside its trial: chunk + overhead frames, targets shifted by extra_frame.
    for start in starts:
        assert len(set(movie_index[start : start + 5] // 10)) == 1
        assert response_index[start + 2 + 2] == movie_index[start + 2 + 2] + 1


def _dataset(frames: int = 10, trials: int = 4, chunk: int = 3, overhead: int = 2, extra: int = 0):
    """Frames and responses whose values are their stored frame number."""
    total = frames * trials
    movie = torch.arange(total, dtype=torch.float32)[:, None, None, None].expand(total, 1, 2, 3).contiguous()
    responses = torch.arange(total, dtype=torch.float32)[:, None].repeat(1, 5)
    movie_index, response_index, starts = trial_sequence(range(trials), frames, chunk, overhead, extra)
    dataset = OverheadMovieDataset(
        movie, responses, chunk, overhead, movie_index=movie_index, response_index=response_index
    )
    return dataset, starts


@pytest.mark.parametrize("extra", [0, 1])
def test_overhead_samples_align_targets_with_the_last_frames(extra: int) -> None:
    dataset, starts = _dataset(extra=extra)
    batch = dataset.__getitems__(starts.tolist())
    assert batch.inputs.shape == (len(starts), 1, 5, 2, 3) and batch.targets.shape == (len(starts), 3, 5)
    frames = batch.inputs[:, 0, :, 0, 0]
    np.testing.assert_array_equal(batch.targets[:, :, 0].numpy(), frames[:, 2:].numpy() + extra)
    planned = list(dataset.iter_batches(starts, 2, drop_last=False))
    assert torch.equal(torch.cat([b.targets for b in planned]), batch.targets)
    assert torch.equal(torch.cat([b.inputs for b in planned]), batch.inputs)
    single = dataset[int(starts[1])]
    assert single.inputs.shape == (1, 5, 2, 3) and single.targets.shape == (3, 5)


def test_white_noise_sampler_shuffles_within_trials_then_blocks() -> None:
    dataset, starts = _dataset(frames=40, trials=6, chunk=5, overhead=4)
    per_trial = chunks_per_trial(40, 5, 4)
    sampler = TrialBlockSampler(starts, per_trial, dataset.chunk_size, dataset.sequence_length, seed=8)
    epochs = [sampler.epoch_starts(e).numpy() for e in range(3)]
    for order in epochs:
        blocks = order.reshape(-1, per_trial)
        trials = blocks // 40
        assert (trials == trials[:, :1]).all(), "each block of consecutive samples is one trial"
        assert sorted(trials[:, 0].tolist()) == list(range(6)), "every trial once"
        assert sorted(order.tolist()) == sorted(starts.tolist())
    assert any(not np.array_equal(epochs[0], e) for e in epochs[1:]), "the order changes every epoch"
    assert np.array_equal(sampler.epoch_starts(1).numpy(), epochs[1]), "and is a function of (seed, epoch)"
    within = [b.tolist() != sorted(b.tolist()) for b in epochs[0].reshape(-1, per_trial)]
    assert any(within), "chunks are shuffled within their trial"
    shards = [
        TrialBlockSampler(
            starts, per_trial, dataset.chunk_size, dataset.sequence_length, seed=8, num_replicas=2, rank=r
        )
        .epoch_starts(0)
        .numpy()
        for r in range(2)
    ]
    assert not set(shards[0]) & set(shards[1]) and len(shards[0]) == len(shards[1])


def test_white_noise_loader_serves_the_sampler_order_through_the_cycler() -> None:
    dataset, starts = _dataset(frames=40, trials=6, chunk=5, overhead=4)
    sampler = TrialBlockSampler(
        starts, chunks_per_trial(40, 5, 4), dataset.chunk_size, dataset.sequence_length
    )
    loader = loader_with_sampler(dataset, 4, sampler)
    expected = sampler.epoch_starts(0).numpy()
    seen = [batch.inputs[:, 0, 0, 0, 0].numpy() for _, batch in LongCycler({"s": loader}, shuffle=False)]
    got = np.concatenate(seen)
    assert len(got) == len(expected) // 4 * 4, "the last partial batch is dropped"
    np.testing.assert_array_equal(got, dataset.movie_index.numpy()[expected[: len(got)]])
