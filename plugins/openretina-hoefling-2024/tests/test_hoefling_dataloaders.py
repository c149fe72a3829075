"""Loaders: clip reordering, validation location, eye flips, splits and sharing, checked with encoded data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from openretina_hoefling_2024 import dataloaders as dl_module
from openretina_hoefling_2024.dataloaders import natmov_dataloaders_v2

from openretina_core.data import MoviesTrainTestSplit, ResponsesTrainTestSplit

H, W = 4, 6
COLUMN = 10000.0  # pixel value offset per width column, to see mirroring
LEFT, RIGHT, ERRATA = "session_a_left", "session_b_right", "session_2_ventral2_20200626"


def encoded_movie(orders: np.ndarray | None) -> MoviesTrainTestSplit:
    """Channel 0 holds the clip id, channel 1 the frame within the clip, plus COLUMN * width index."""
    t = np.arange(16200)
    buffer = np.empty((16200 + 750, 2, H, W), np.float32)
    columns = COLUMN * np.arange(W)[None, None, :]
    buffer[:16200, 0] = (t // 150)[:, None, None] + columns
    buffer[:16200, 1] = (t % 150)[:, None, None] + columns
    test_t = np.arange(750)
    buffer[16200:, 0] = (1000 + test_t // 150)[:, None, None] + columns
    buffer[16200:, 1] = (test_t % 150)[:, None, None] + columns
    return MoviesTrainTestSplit(
        train=buffer[:16200].transpose(1, 0, 2, 3),
        test_dict={"test": buffer[16200:].transpose(1, 0, 2, 3)},
        stim_id="natural",
        random_sequences=orders,
    )


def encoded_responses(order: np.ndarray, eye: str, column: int | None) -> ResponsesTrainTestSplit:
    """Neuron 0: clip shown at each presentation bin; neuron 1: frame within clip; neuron 2: bin position."""
    p = np.arange(16200)
    train = np.stack([order[p // 150], p % 150, p]).astype(np.float32)
    test_t = np.arange(750)
    test = np.stack([1000 + test_t // 150, test_t % 150, -test_t]).astype(np.float32)
    by_trial = np.stack([test + 0.25 * k for k in (-1, 0, 1)])
    return ResponsesTrainTestSplit(
        train=train,
        test_dict={"test": test},
        test_by_trial_dict={"test": by_trial},
        stim_id="natural",
        session_kwargs={"eye": eye, "scan_sequence_idx": column, "roi_coords": np.zeros((3, 2), np.float32)},
    )


def decode(inputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clip id, frame in clip, mirrored?) per batch element and time step, from column 0 and the last column."""
    first, last = inputs[..., 0, 0].numpy(), inputs[..., 0, -1].numpy()  # (B, C, T)
    mirrored = (last - first)[:, 0, 0] < 0
    base = np.where(mirrored[:, None, None], first - COLUMN * (W - 1), first)
    return base[:, 0], base[:, 1], mirrored


@pytest.fixture(scope="module")
def orders() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.stack([rng.permutation(108) for _ in range(3)], axis=1)


def _loaders(orders: np.ndarray, validation: list[int], **options: object) -> tuple[dict, dict]:
    responses = {
        LEFT: encoded_responses(orders[:, 0], "left", 0),
        RIGHT: encoded_responses(orders[:, 1], "right", 1),
        ERRATA: encoded_responses(orders[:, 2], "left", 2),  # labelled left; errata say right
    }
    loaders = natmov_dataloaders_v2(
        responses, encoded_movie(orders), validation_clip_indices=validation, batch_size=16, **options
    )
    return loaders, responses


@pytest.mark.parametrize("use_base_sequence", [False, True])
def test_train_and_validation_alignment(orders: np.ndarray, use_base_sequence: bool) -> None:
    validation = [95, 0, 4, 62]
    loaders, responses = _loaders(orders, validation, use_base_sequence=use_base_sequence)
    for session, expect_mirror in ((LEFT, True), (RIGHT, False), (ERRATA, False)):
        seen = []
        for inputs, targets in loaders["train"][session]:
            clip, frame, mirrored = decode(inputs)
            assert (mirrored == expect_mirror).all(), session
            np.testing.assert_array_equal(clip, targets[..., 0].numpy())
            np.testing.assert_array_equal(frame, targets[..., 1].numpy())
            seen.append(clip)
        seen_clips = set(np.unique(np.concatenate(seen)).tolist())
        assert seen_clips.isdisjoint(validation) and len(seen_clips) > 90
        dataset = loaders["train"][session].dataset
        sequence = dataset.movies[0, :, 0, 0].numpy() - (COLUMN * (W - 1) if expect_mirror else 0)
        column = responses[session].session_kwargs["scan_sequence_idx"]
        shown = [c for c in orders[:, column] if c not in validation]
        expected = sorted(shown) if use_base_sequence else shown
        np.testing.assert_array_equal(sequence[::150], expected)  # presentation (or canonical) order
        val_batches = list(loaders["validation"][session])
        val_inputs = torch.cat([b.inputs for b in val_batches])
        val_targets = torch.cat([b.targets for b in val_batches])
        clip, frame, mirrored = decode(val_inputs)
        assert val_inputs.shape[2] == 150 and (mirrored == expect_mirror).all()
        np.testing.assert_array_equal(clip[:, 0], validation)  # served in the order listed
        np.testing.assert_array_equal(clip, val_targets[..., 0].numpy())
        np.testing.assert_array_equal(frame, val_targets[..., 1].numpy())
        position = np.argsort(orders[:, column])[validation]  # where each validation clip was shown
        np.testing.assert_array_equal(val_targets[:, 0, 2].numpy(), position * 150)


def test_test_loader_and_starts(orders: np.ndarray) -> None:
    loaders, _ = _loaders(orders, [0, 1])
    for session in (LEFT, RIGHT):
        batches = list(loaders["test"][session])
        assert len(batches) == 1
        inputs, targets = batches[0]
        assert inputs.shape == (1, 2, 750, H, W) and targets.shape == (1, 750, 3)
        clip, frame, mirrored = decode(inputs)
        assert bool(mirrored[0]) == (session == LEFT)
        np.testing.assert_array_equal(clip[0], targets[0, :, 0].numpy())
        np.testing.assert_array_equal(frame[0], targets[0, :, 1].numpy())
        by_trial = loaders["test"][session].dataset.test_responses_by_trial
        assert tuple(by_trial.shape) == (3, 3, 750)
        train_loader = loaders["train"][session]
        nominal = train_loader.sampler.starts.numpy()
        np.testing.assert_array_equal(nominal, np.arange(0, 106 * 150 - 49, 50))  # 0, 50, ..., 15850
        assert len(train_loader) == len(nominal) // 16  # drop_last
        assert loaders["validation"][session].sampler.starts.tolist() == [0, 150]
    assert loaders.data_info["validation_clip_indices"] == [0, 1]
    assert loaders.data_info["eye"] == {LEFT: "left", RIGHT: "right", ERRATA: "right"}
    assert set(loaders.data_info["roi_coords"]) == {LEFT, RIGHT, ERRATA}
    assert loaders.data_info["input_shape"] == (2, H, W)


def test_movie_is_held_once(orders: np.ndarray) -> None:
    movie = encoded_movie(orders)
    responses = {
        LEFT: encoded_responses(orders[:, 0], "left", 0),
        RIGHT: encoded_responses(orders[:, 1], "right", 1),
    }
    loaders = natmov_dataloaders_v2(responses, movie, validation_clip_indices=[3], batch_size=4)
    pointer = movie.train.__array_interface__["data"][0]
    for split in ("train", "validation"):
        for loader in loaders[split].values():
            assert loader.dataset.movie.data_ptr() == pointer
    assert loaders.data_info["movie_copies_made"] == 0
    assert loaders["train"][LEFT].dataset.movie is loaders["train"][RIGHT].dataset.movie


def test_single_sequence_without_random_sequences() -> None:
    identity = np.arange(108)
    responses = {
        RIGHT: encoded_responses(identity, "right", None),
        LEFT: encoded_responses(identity, "left", 0),
    }
    loaders = natmov_dataloaders_v2(
        responses, encoded_movie(None), validation_clip_indices=[5, 7], batch_size=8
    )
    for session in responses:
        for inputs, targets in loaders["train"][session]:
            clip, frame, _ = decode(inputs)
            np.testing.assert_array_equal(clip, targets[..., 0].numpy())
            np.testing.assert_array_equal(frame, targets[..., 1].numpy())
    rng = np.random.default_rng(1)
    several = np.stack([rng.permutation(108) for _ in range(2)], axis=1)
    with pytest.raises(ValueError, match="no scan_sequence_idx"):
        natmov_dataloaders_v2(
            {RIGHT: encoded_responses(several[:, 0], "right", None)},
            encoded_movie(several),
            [0],
            batch_size=8,
        )


def test_invalid_inputs(orders: np.ndarray) -> None:
    responses = {RIGHT: encoded_responses(orders[:, 1], "right", 1)}
    with pytest.raises(ValueError, match=r"\[0, 108\)"):
        natmov_dataloaders_v2(responses, encoded_movie(orders), [200])
    with pytest.raises(ValueError, match="scan_sequence_idx 7"):
        natmov_dataloaders_v2(
            {RIGHT: encoded_responses(orders[:, 1], "right", 7)}, encoded_movie(orders), [0]
        )
    bad = orders.copy()
    bad[0, 0] = bad[1, 0]
    with pytest.raises(ValueError, match="not a permutation"):
        natmov_dataloaders_v2(responses, encoded_movie(bad), [0])
    chirp = ResponsesTrainTestSplit(train=np.zeros((2, 990), np.float32), stim_id="chirp")
    with pytest.raises(ValueError, match="natural-movie responses"):
        natmov_dataloaders_v2({"x": chirp}, encoded_movie(orders), [0])
    with pytest.raises(TypeError, match="shared MoviesTrainTestSplit"):
        natmov_dataloaders_v2(responses, {RIGHT: encoded_movie(orders)}, [0])  # type: ignore[arg-type]


def test_distributed_shards_are_disjoint(orders: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    per_rank = {}
    for rank in (0, 1):
        monkeypatch.setattr(dl_module, "distributed_context", lambda distributed, rank=rank: (2, rank))
        loaders, _ = _loaders(orders, [0, 1, 2])
        train = loaders["train"][RIGHT].sampler
        val = loaders["validation"][RIGHT].sampler
        per_rank[rank] = (set(train.epoch_starts(0).tolist()), val.epoch_starts(0).tolist(), len(train))
    assert per_rank[0][0].isdisjoint(per_rank[1][0]) and per_rank[0][2] == per_rank[1][2]
    assert sorted(per_rank[0][1] + per_rank[1][1]) == [0, 150, 300]  # evaluation: every clip exactly once


def test_seed_page_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hoefling_sample: object) -> None:
    """The user-facing example, verbatim with our imports, after a download from a local mirror.

    The mirror holds the published zip archives only for what the loaders need (no 72x64 archive): the
    download is grouped, so nothing else is requested.
    """
    import zipfile

    from openretina_hoefling_2024 import constants as c

    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENRETINA_OFFLINE", raising=False)
    from openretina_hoefling_2024.responses import get_all_responses
    from openretina_hoefling_2024.stimuli import get_all_movies

    with pytest.raises(FileNotFoundError, match="download=True"):
        get_all_responses()
    data_dir = Path(hoefling_sample.data_dir)  # type: ignore[attr-defined]
    mirror = tmp_path / "mirror"
    for published, archive, inner in (
        (c.RESPONSES_FILE, c.RESPONSES_ARCHIVE, "rgc_natstim_2024-08-14.h5"),
        (c.STIMULUS_FILES["18x16"], c.STIMULUS_ARCHIVES["18x16"], "rgc_natstim_18x16.pkl"),
    ):
        target = mirror / "hoefling_2024" / archive
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.write(data_dir / published, arcname=inner)
    monkeypatch.setenv("OPENRETINA_MIRROR_URL", str(mirror))
    get_all_responses(download=True, sessions=[])
    get_all_movies(download=True)
    monkeypatch.setenv("OPENRETINA_OFFLINE", "1")

    from openretina_hoefling_2024.dataloaders import natmov_dataloaders_v2
    from openretina_hoefling_2024.responses import get_all_responses
    from openretina_hoefling_2024.stimuli import get_all_movies

    responses = get_all_responses()
    movies = get_all_movies()
    dataloaders = natmov_dataloaders_v2(
        neuron_data_dictionary=responses,
        movies_dictionary=movies,
        validation_clip_indices=[0, 1],
        batch_size=32,
    )
    train_loaders = dataloaders["train"]
    validation_loaders = dataloaders["validation"]
    test_loaders = dataloaders["test"]
    assert set(train_loaders) == set(validation_loaders) == set(test_loaders) == set(responses)
    assert len(responses) == 3
    inputs, targets = next(iter(next(iter(train_loaders.values()))))
    assert inputs.shape[:3] == (32, 2, 50) and inputs.shape[3:] == (18, 16) and targets.shape[:2] == (32, 50)


def test_nan_policy_keeps_metadata_in_step(orders: np.ndarray) -> None:
    responses = encoded_responses(orders[:, 1], "right", 1)
    train = responses.train.copy()
    train[1, 10] = np.nan
    coords = np.arange(6, dtype=np.float32).reshape(3, 2)
    bad = ResponsesTrainTestSplit(
        train=train,
        test_dict=responses.test_dict,
        test_by_trial_dict=responses.test_by_trial_dict,
        stim_id="natural",
        session_kwargs={**responses.session_kwargs, "roi_coords": coords, "roi_ids": np.array([7, 8, 9])},
    )
    with pytest.raises(ValueError, match="NaN"):
        natmov_dataloaders_v2({RIGHT: bad}, encoded_movie(orders), [0])
    loaders = natmov_dataloaders_v2({RIGHT: bad}, encoded_movie(orders), [0], nan_policy="drop_neurons")
    assert loaders.data_info["n_neurons_dict"][RIGHT] == 2
    np.testing.assert_array_equal(loaders.data_info["roi_ids"][RIGHT], [7, 9])
    np.testing.assert_array_equal(loaders.data_info["roi_coords"][RIGHT], coords[[0, 2]])
    assert loaders.data_info["nan_policy_applied"][RIGHT]["dropped_neurons"] == [1]


def test_registry_refuses_non_natural_loaders(hoefling_sample: object) -> None:
    from openretina_core import get_dataloaders

    with pytest.raises(ValueError, match="natural movie only"):
        get_dataloaders("hoefling_2024", data_dir=hoefling_sample.data_dir, response_type="chirp")  # type: ignore[attr-defined]
