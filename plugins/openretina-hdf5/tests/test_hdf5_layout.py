"""The layout's semantics: sorted concatenation, per-session stimuli, session_info, sharing, splits, alignment."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from openretina_hdf5 import get_hdf5_dataloaders, load_hdf5, load_responses, load_stimuli

import openretina_core as orc


def frame_codes(movie_cthw: np.ndarray) -> np.ndarray:
    """The code of every frame of a ``(C, T, H, W)`` coded movie (every pixel of a frame holds it)."""
    return np.asarray(movie_cthw[0, :, 0, 0])


def test_sorted_concatenation_overrides_and_session_info(
    standard_folder: Path, coded: SimpleNamespace
) -> None:
    data = load_hdf5(standard_folder, test_names=["t"])
    assert list(data.movies) == ["s1", "s2", "s3"]  # file stems, sorted; .h5 and .hdf5 both sessions
    code = coded.code
    # s1 lists c, a, t, b in its file: the train movie is a, b, c (sorted), t is the test stimulus.
    expected_s1 = np.concatenate([code(1, np.arange(300)), code(2, np.arange(200)), code(3, np.arange(250))])
    np.testing.assert_array_equal(frame_codes(data.movies["s1"].train), expected_s1)
    np.testing.assert_array_equal(data.responses["s1"].train[0], expected_s1)  # neuron 0 carries the code
    np.testing.assert_array_equal(data.responses["s1"].train[2], expected_s1 + 0.5)
    assert set(data.movies["s1"].test_dict) == {"t"}
    np.testing.assert_array_equal(frame_codes(data.movies["s1"].test_dict["t"]), code(9, np.arange(120)))
    # s2 shows its own version of b (codes of stimulus 7) between the shared a and c.
    expected_s2 = np.concatenate([code(1, np.arange(300)), code(7, np.arange(200)), code(3, np.arange(250))])
    np.testing.assert_array_equal(frame_codes(data.movies["s2"].train), expected_s2)
    np.testing.assert_array_equal(data.responses["s2"].train[1], expected_s2 + 0.25)
    # s3: "own" exists only in its file; sorted order is a, d, own; no test stimulus.
    expected_s3 = np.concatenate([code(1, np.arange(300)), code(4, np.arange(150)), code(5, np.arange(100))])
    np.testing.assert_array_equal(frame_codes(data.movies["s3"].train), expected_s3)
    assert data.movies["s3"].test_dict == {} and data.responses["s3"].test_dict == {}
    # session_info/ -> session_kwargs, as arrays (strings decoded)
    kwargs = data.responses["s1"].session_kwargs
    np.testing.assert_array_equal(kwargs["celltypes"], [1, 2, 3])
    assert str(kwargs["eye"]) == "left"
    np.testing.assert_array_equal(data.responses["s3"].session_kwargs["roi_ids"], np.arange(4))
    assert data.responses["s2"].session_kwargs == {}
    sources = data.layout.sessions["s2"].sources
    assert sources["b"].key == "stimulus_b" and sources["a"].key is None


def test_session_info_reaches_data_info_and_loaders(standard_folder: Path) -> None:
    loaders = orc.get_dataloaders(
        "hdf5", data_dir=standard_folder, test_names=["t"], batch_size=2, clip_length=50, num_val_clips=2
    )
    info = loaders.data_info
    np.testing.assert_array_equal(info["sessions_kwargs"]["s1"]["celltypes"], [1, 2, 3])
    assert info["n_neurons_dict"] == {"s1": 3, "s2": 2, "s3": 4}
    assert info["input_shape"] == (2, 4, 3)
    assert info["stimulus_names"]["s3"] == ["a", "d", "own"]
    assert info["stimulus_sources"]["s2"]["b"].endswith("s2.hdf5:stimulus_b")
    assert set(loaders) == {"train", "validation", "t"}  # test loaders keyed by stimulus name
    assert set(loaders["t"]) == {"s1", "s2"}  # s3 does not show t


def test_shared_stimuli_are_held_once(standard_folder: Path) -> None:
    loaders = get_hdf5_dataloaders(
        standard_folder, test_names=["t"], batch_size=2, clip_length=50, num_val_clips=2
    )
    assert loaders.data_info["movie_copies_made"] == 0
    # s1's sequence (a, b, c), s2's (a, own b, c), s3's (a, d, own) and t: four buffers, t shared by s1 and s2.
    assert loaders.data_info["movie_buffers"] == 4
    t1, t2 = (loaders["t"][s].dataset.movie for s in ("s1", "s2"))
    assert t1.data_ptr() == t2.data_ptr()


def test_sessions_showing_the_same_stimuli_share_one_container_and_tensor(
    write_folder, coded: SimpleNamespace
) -> None:
    stimuli = {"x": coded.movie(1, 400), "y": coded.movie(2, 300), "t": coded.movie(3, 100)}
    sessions = {
        f"rec{k}.h5": {
            "responses": {
                n: coded.responses(i + 1, len(a[0]), 2 + k) for i, (n, a) in enumerate(stimuli.items())
            }
        }
        for k in range(4)
    }
    root = write_folder(stimuli, sessions)
    data = load_hdf5(root, test_names=["t"])
    assert len({id(m) for m in data.movies.values()}) == 1, "one container for all sessions"
    assert data.movie_buffers == 2 and data.movie_bytes == (700 + 100) * 2 * 4 * 3 * 4
    loaders = get_hdf5_dataloaders(root, test_names=["t"], batch_size=2, clip_length=50, num_val_clips=2)
    assert loaders.data_info["movie_copies_made"] == 0
    pointers = {
        loaders[split][s].dataset.movie.data_ptr()
        for split in ("train", "validation")
        for s in loaders[split]
    }
    assert len(pointers) == 1, "train and validation of every session gather from one stored tensor"
    assert len({loaders["t"][s].dataset.movie.data_ptr() for s in loaders["t"]}) == 1
    stimuli_bytes = load_stimuli(root, test_names=["t"])
    assert len({id(m) for m in stimuli_bytes.values()}) == 1
    assert set(load_responses(root, test_names=["t"])) == {f"rec{k}" for k in range(4)}


def _epoch_codes(loader, coded_code=None) -> tuple[set[float], int]:
    """Every frame code seen in one pass of ``loader``; checks each batch's targets against its inputs."""
    seen: set[float] = set()
    batches = 0
    for inputs, targets in loader:
        codes = inputs[:, 0, :, 0, 0]  # (B, T)
        assert torch.equal(inputs.amin(dim=(1, 3, 4)), inputs.amax(dim=(1, 3, 4))), "a frame is one code"
        n = targets.shape[-1]
        torch.testing.assert_close(targets, codes[..., None] + 0.25 * torch.arange(n), rtol=0, atol=0)
        seen.update(codes.reshape(-1).tolist())
        batches += 1
    return seen, batches


@pytest.mark.parametrize("split", ["seeded", "openretina"])
@pytest.mark.parametrize("allow_over_boundaries", [True, False])
def test_no_frame_in_two_splits_and_every_batch_aligned(
    standard_folder: Path, split: str, allow_over_boundaries: bool
) -> None:
    loaders = get_hdf5_dataloaders(
        standard_folder,
        test_names=["t"],
        batch_size=3,
        train_chunk_size=20,
        clip_length=50,
        num_val_clips=3,
        split=split,
        allow_over_boundaries=allow_over_boundaries,
    )
    for session in loaders["train"]:
        train = set()
        for _ in range(3):  # several passes: shifts differ, the split does not
            codes, _ = _epoch_codes(loaders["train"][session])
            train |= codes
        val, n_val = _epoch_codes(loaders["validation"][session])
        assert n_val >= 1 and len(val) == 3 * 50
        assert not train & val, f"{session}: frames in train and validation"
        if session in loaders["t"]:
            test, _ = _epoch_codes(loaders["t"][session])
            served = 120 if allow_over_boundaries else 100  # whole movie, or complete clips of 50
            assert test == set(np.arange(9000, 9000 + served).astype(float).tolist())
            assert not (train | val) & test
        clips = loaders.data_info["val_clip_indices"][session]
        assert len(clips) == 3


def test_normalisation_and_stored_dtypes(write_folder, coded: SimpleNamespace) -> None:
    stimuli = {
        "a": coded.movie(1, 200, dtype=np.float64),
        "b": coded.movie(2, 100, dtype=np.int16),
        "t": coded.movie(3, 60, dtype=np.uint16),
    }
    sessions = {
        "s.h5": {
            "responses": {
                n: coded.responses(i + 1, a.shape[1], 2).astype(np.float32)
                for i, (n, a) in enumerate(stimuli.items())
            }
        }
    }
    root = write_folder(stimuli, sessions)
    data = load_hdf5(root, test_names=["t"], norm_mean=1000.0, norm_std=2.0)
    movies = data.movies["s"]
    assert movies.train.dtype == np.float32 and movies.norm_mean == 1000.0 and movies.norm_std == 2.0
    expected = (np.concatenate([coded.code(1, np.arange(200)), coded.code(2, np.arange(100))]) - 1000) / 2
    np.testing.assert_array_equal(frame_codes(movies.train), expected)
    np.testing.assert_array_equal(
        frame_codes(movies.test_dict["t"]), (coded.code(3, np.arange(60)) - 1000) / 2
    )
    loaders = get_hdf5_dataloaders(
        root, test_names=["t"], norm_mean=1000.0, norm_std=2.0, batch_size=2, clip_length=50, num_val_clips=1
    )
    assert loaders.data_info["stim_mean"] == 1000.0 and loaders.data_info["stim_std"] == 2.0


def test_a_dataset_of_test_stimuli_only_gives_test_loaders(write_folder, coded: SimpleNamespace) -> None:
    stimuli = {"p": coded.movie(1, 150), "q": coded.movie(2, 90)}
    sessions = {
        f"s{k}.h5": {
            "responses": {
                n: coded.responses(i + 1, a.shape[1], 3) for i, (n, a) in enumerate(stimuli.items())
            }
        }
        for k in range(2)
    }
    root = write_folder(stimuli, sessions)
    loaders = orc.get_dataloaders("hdf5", data_dir=root, test_names=["p", "q"], batch_size=4)
    assert loaders["train"] == {} and loaders["validation"] == {}
    assert set(loaders) == {"train", "validation", "p", "q"}
    info = loaders.data_info
    assert info["test_only_sessions"] == ["s0", "s1"] and info["n_neurons_dict"] == {"s0": 3, "s1": 3}
    assert info["input_shape"] == coded.shape and info["movie_copies_made"] == 0
    assert info["mean_activity_dict"]["s0"].shape == (3,)
    for name, n_frames, stim in (("p", 150, 1), ("q", 90, 2)):
        for session in ("s0", "s1"):
            seen, batches = _epoch_codes(loaders[name][session])
            assert batches == 1 and seen == set(coded.code(stim, np.arange(n_frames)).astype(float).tolist())


def test_a_session_of_test_stimuli_only_beside_training_sessions(
    write_folder, coded: SimpleNamespace
) -> None:
    stimuli = {"a": coded.movie(1, 300), "t": coded.movie(2, 80)}
    sessions = {
        "full.h5": {"responses": {"a": coded.responses(1, 300, 2), "t": coded.responses(2, 80, 2)}},
        "eval.h5": {"responses": {"t": coded.responses(2, 80, 5)}},
    }
    root = write_folder(stimuli, sessions)
    loaders = get_hdf5_dataloaders(
        root, test_names=["t"], batch_size=2, clip_length=50, num_val_clips=1, allow_over_boundaries=False
    )
    assert set(loaders["train"]) == {"full"} and set(loaders["t"]) == {"eval", "full"}
    assert loaders.data_info["test_only_sessions"] == ["eval"]
    assert loaders.data_info["n_neurons_dict"] == {"eval": 5, "full": 2}
    seen, batches = _epoch_codes(loaders["t"]["eval"])
    assert batches == 1 and len(seen) == 50  # allow_over_boundaries=False: test chunks of clip_length
    assert set(loaders.data_info["val_clip_indices"]) == {"full"}
