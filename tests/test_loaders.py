"""The dataloader builder: splits, alignment, shifts, batch assembly, shared storage, NaN policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openretina_core import MoviesTrainTestSplit, ResponsesTrainTestSplit, multiple_movies_dataloaders

T, CLIP, CHUNK = 1230, 100, 40  # 12 complete clips; 30 trailing frames dropped


def time_coded(n_neurons: int = 3, t: int = T, channels: int = 1, t_test: int = 150, offset: float = 0.0):
    """A movie whose every pixel holds its frame index, and responses that hold the same index."""
    frames = np.arange(t, dtype=np.float32) + offset
    buffer = np.broadcast_to(frames[:, None, None, None], (t, channels, 2, 3)).copy()
    movie = MoviesTrainTestSplit(
        train=buffer.transpose(1, 0, 2, 3),
        test_dict={
            "test": np.broadcast_to(
                np.arange(t_test, dtype=np.float32)[None, :, None, None] + 1e5, (channels, t_test, 2, 3)
            )
        },
    )
    responses = ResponsesTrainTestSplit(
        train=np.broadcast_to(frames, (n_neurons, t)).copy(),
        test_dict={
            "test": np.broadcast_to(np.arange(t_test, dtype=np.float32) + 1e5, (n_neurons, t_test)).copy()
        },
        test_by_trial_dict={"test": np.zeros((2, n_neurons, t_test), dtype=np.float32)},
    )
    return movie, responses


def frames_of(batch_inputs: torch.Tensor) -> torch.Tensor:
    return batch_inputs[:, 0, :, 0, 0]


@pytest.fixture
def loaders():
    movie, responses = time_coded()
    return multiple_movies_dataloaders(
        {"s1": responses},
        {"s1": movie},
        train_chunk_size=CHUNK,
        batch_size=4,
        clip_length=CLIP,
        num_val_clips=3,
        seed=7,
    )


def test_inputs_and_targets_are_aligned_in_every_split(loaders) -> None:
    for split, group in loaders.items():
        for inputs, targets in group["s1"]:
            assert inputs.shape[1:] == (1, targets.shape[1], 2, 3)
            torch.testing.assert_close(frames_of(inputs), targets[..., 0])
            torch.testing.assert_close(targets[..., 0], targets[..., 2])
            assert inputs.shape[0] == targets.shape[0], split


def test_train_and_validation_partition_the_complete_clips(loaders) -> None:
    val_clips = loaders.data_info["val_clip_indices"]["s1"]
    assert len(val_clips) == 3 and len(set(val_clips)) == 3
    val_frames = torch.cat([frames_of(x).reshape(-1) for x, _ in loaders["validation"]["s1"]]).long()
    expected_val = np.concatenate([np.arange(c * CLIP, (c + 1) * CLIP) for c in val_clips])
    assert sorted(val_frames.tolist()) == sorted(expected_val.tolist())
    train_ds = loaders["train"]["s1"].dataset
    train_frames = set(train_ds.movie_index.tolist())
    assert not train_frames & set(expected_val.tolist()), "train and validation overlap"
    assert train_frames | set(expected_val.tolist()) == set(range(12 * CLIP)), "a clip frame is in no split"
    for _ in range(3):  # every epoch's chunks only touch train frames
        for inputs, _ in loaders["train"]["s1"]:
            assert set(frames_of(inputs).long().reshape(-1).tolist()) <= train_frames


def test_train_drops_last_and_shuffles_deterministically(loaders) -> None:
    train = loaders["train"]["s1"]
    n_starts = (9 * CLIP - CHUNK) // CHUNK + 1
    assert len(train) == n_starts // 4
    epoch0 = [frames_of(x)[:, 0].tolist() for x, _ in train]
    assert all(len(batch) == 4 for batch in epoch0)
    movie, responses = time_coded()
    again = multiple_movies_dataloaders(
        {"s1": responses},
        {"s1": movie},
        train_chunk_size=CHUNK,
        batch_size=4,
        clip_length=CLIP,
        num_val_clips=3,
        seed=7,
    )
    first = [frames_of(x)[:, 0].tolist() for x, _ in again["train"]["s1"]]
    assert first == epoch0, "same seed, same epoch 0"
    second = [frames_of(x)[:, 0].tolist() for x, _ in again["train"]["s1"]]
    assert second != first, "a new epoch reshuffles and reshifts"


def test_chunks_stay_inside_clips_when_boundaries_are_not_allowed() -> None:
    movie, responses = time_coded()
    dl = multiple_movies_dataloaders(
        {"s": responses},
        {"s": movie},
        train_chunk_size=CHUNK,
        batch_size=2,
        clip_length=CLIP,
        num_val_clips=2,
        allow_over_boundaries=False,
    )
    seen_shift = False
    for _ in range(5):
        for inputs, _ in dl["train"]["s"]:
            frames = frames_of(inputs).long()
            assert ((frames // CLIP) == (frames[:, :1] // CLIP)).all(), "a chunk crossed a clip boundary"
            assert (frames[:, 1:] - frames[:, :-1] == 1).all(), "a chunk is not consecutive in the movie"
            seen_shift |= bool((frames[:, 0] % CHUNK != 0).any())
    assert seen_shift, "chunks are randomly shifted"
    assert dl["test"]["s"].dataset.chunk_size == CLIP


def test_explicit_validation_clips_and_test_batch_size() -> None:
    movie, responses = time_coded()
    dl = multiple_movies_dataloaders(
        {"s": responses},
        {"s": movie},
        train_chunk_size=CHUNK,
        batch_size=8,
        clip_length=CLIP,
        val_clip_indices=[5, 0],
    )
    val = next(iter(dl["validation"]["s"]))
    assert frames_of(val.inputs)[:, 0].tolist() == [500.0, 0.0], "validation clips in the order listed"
    test_loader = dl["test"]["s"]
    assert test_loader.batch_size == max(1, 8 * CHUNK // 150)
    inputs, targets = next(iter(test_loader))
    assert inputs.shape == (1, 1, 150, 2, 3) and targets.shape == (1, 150, 3)
    assert test_loader.dataset.test_responses_by_trial.shape == (2, 3, 150)
    with pytest.raises(ValueError, match=r"val_clip_indices must lie in \[0, 12\)"):
        multiple_movies_dataloaders({"s": responses}, {"s": movie}, clip_length=CLIP, val_clip_indices=[12])


def test_shared_movie_is_stored_once_and_not_copied() -> None:
    movie, responses = time_coded(channels=2)
    sessions = {f"s{i}": responses for i in range(5)}
    dl = multiple_movies_dataloaders(
        sessions, movie, train_chunk_size=CHUNK, batch_size=4, clip_length=CLIP, num_val_clips=2
    )
    pointers = {
        loader.dataset.movie.data_ptr()
        for group in (dl["train"], dl["validation"])
        for loader in group.values()
    }
    assert pointers == {movie.train.ctypes.data}, "every session gathers from the container's own buffer"
    assert dl.data_info["movie_copies_made"] == 1, (
        "only the channel-first test movie needed a time-major copy"
    )
    inputs, targets = next(iter(dl["train"]["s3"]))
    assert inputs.shape == (4, 2, CHUNK, 2, 3)
    torch.testing.assert_close(inputs[:, 1, :, 1, 2], targets[..., 0])


def test_nan_policy_is_explicit() -> None:
    movie, responses = time_coded()
    train = responses.train.copy()
    train[1, 10] = np.nan
    bad = ResponsesTrainTestSplit(train, responses.test_dict, test_by_trial_dict=responses.test_by_trial_dict)
    with pytest.raises(ValueError, match=r"session 's': responses contain 1 NaN values in 1 neurons"):
        multiple_movies_dataloaders({"s": bad}, {"s": movie}, clip_length=CLIP)
    dropped = multiple_movies_dataloaders(
        {"s": bad}, {"s": movie}, clip_length=CLIP, nan_policy="drop_neurons"
    )
    assert dropped.data_info["n_neurons_dict"]["s"] == 2
    assert dropped.data_info["nan_policy_applied"]["s"]["dropped_neurons"] == [1]
    zeroed = multiple_movies_dataloaders({"s": bad}, {"s": movie}, clip_length=CLIP, nan_policy="zero")
    assert zeroed["train"]["s"] is not None
    assert torch.isfinite(zeroed["train"]["s"].dataset.responses).all()
    with pytest.raises(ValueError, match="nan_policy must be one of"):
        multiple_movies_dataloaders({"s": bad}, {"s": movie}, clip_length=CLIP, nan_policy="ignore")


def test_mismatched_sessions_and_short_movies_raise() -> None:
    movie, responses = time_coded()
    with pytest.raises(KeyError, match="no movies for session 'other'"):
        multiple_movies_dataloaders({"other": responses}, {"s": movie}, clip_length=CLIP)
    short_movie, short_resp = time_coded(t=120)
    with pytest.raises(ValueError, match="fewer than train_chunk_size"):
        multiple_movies_dataloaders(
            {"s": short_resp}, {"s": short_movie}, clip_length=60, num_val_clips=1, train_chunk_size=80
        )


def test_single_items_match_batches(loaders) -> None:
    ds = loaders["train"]["s1"].dataset
    item = ds[7]
    batch = ds.__getitems__([7, 8])
    torch.testing.assert_close(item.inputs, batch.inputs[0])
    torch.testing.assert_close(item.targets, batch.targets[0])
    with pytest.raises(IndexError):
        ds.__getitems__([len(ds)])


def test_flip_width_mirrors_batches() -> None:
    from openretina_core.data.movie_dataset import MovieDataset

    movie = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 1, 3, 4)
    ds = MovieDataset(movie, torch.zeros(2, 1), 2, flip_width=True)
    torch.testing.assert_close(ds[0].inputs[0, 0], movie[0, 0].flip(-1))
