"""Reading the published layout: shapes, splits, trimming, repeats, response types, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from openretina_maheswaranathan_2023 import (
    get_maheswaranathan_dataloaders,
    load_all_responses,
    load_all_stimuli,
    write_sample,
)
from openretina_maheswaranathan_2023.constants import RESPONSE_TYPES

from openretina_core.registry import SyntheticSample

CELLNN_SESSION, TYPED_SESSION = "15-10-07", "15-11-21a"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSample:
    return write_sample(tmp_path_factory.mktemp("maheswaranathan_layout"), seed=0)


@pytest.fixture
def small(tmp_path: Path) -> SyntheticSample:
    """A one-session sample (cellNN repeats) to modify in a test."""
    return write_sample(tmp_path, seed=1, n_sessions=1, n_train=2000, n_test=200, n_cells=4)


def session_file(data_dir: Path, session: str, stim_type: str = "naturalscene") -> Path:
    return Path(data_dir) / "ganglion_cell_data" / session / f"{stim_type}.h5"


def read(path: Path, key: str) -> np.ndarray:
    with h5py.File(path, "r") as h5:
        return np.asarray(h5[key][...], dtype=np.float64)


# -- shapes and splits -----------------------------------------------------------------------------------------
def test_loaders_shapes_and_splits(sample: SyntheticSample) -> None:
    loaders = get_maheswaranathan_dataloaders(batch_size=8, download=False, data_dir=sample.data_dir)
    assert set(loaders) == {"train", "validation", "test"}
    assert sorted(loaders["train"]) == sorted(sample.filters)  # interneuron_data/ is not a session
    for session, filters in sample.filters.items():
        n = filters.shape[0]
        inputs, targets = next(iter(loaders["train"][session]))
        assert tuple(inputs.shape) == (8, 1, 50, 50, 50) and tuple(targets.shape) == (8, 50, n)
        # 7200 frames = 80 clips of 90; 20 validation clips; 60 x 90 / 50 = 108 chunks -> 13 full batches of 8.
        assert len(loaders["train"][session]) == 13
        val_clips = loaders.data_info["val_clip_indices"][session]
        assert len(val_clips) == 20 and len(set(val_clips)) == 20 and max(val_clips) < 80
        val_inputs = [batch.inputs for batch in loaders["validation"][session]]
        assert sum(v.shape[0] for v in val_inputs) == 20 and val_inputs[0].shape[1:] == (1, 90, 50, 50)
        (test_batch,) = list(loaders["test"][session])
        assert tuple(test_batch.inputs.shape) == (1, 1, 600, 50, 50)
        assert tuple(test_batch.targets.shape) == (1, 600, n)
        assert loaders["test"][session].dataset.test_responses_by_trial.shape == (5, n, 600)
    info = loaders.data_info
    assert info["movie_copies_made"] == 0  # the time-major buffers are used as they are
    assert info["input_shape"] == (1, 50, 50)
    assert info["stimulus_rate_hz"] == info["response_rate_hz"] == 100.0
    assert info["test_bins_trimmed"] == {s: 1 for s in sample.filters}
    assert info["n_neurons_dict"] == {s: f.shape[0] for s, f in sample.filters.items()}


def test_stimuli_are_zscored_per_session_with_recorded_statistics(sample: SyntheticSample) -> None:
    movies = load_all_stimuli(sample.data_dir)
    for session, split in movies.items():
        path = session_file(sample.data_dir, session)
        raw_train, raw_test = read(path, "train/stimulus"), read(path, "test/stimulus")
        assert split.norm_mean == pytest.approx(raw_train.mean(), rel=1e-5)
        assert split.norm_std == pytest.approx(raw_train.std(ddof=1), rel=1e-5)
        assert split.train.shape == (1, 7200, 50, 50) and split.test.shape == (1, 600, 50, 50)
        assert split.train.dtype == np.float32 and split.train.flags.c_contiguous
        np.testing.assert_allclose(split.train[0], (raw_train - split.norm_mean) / split.norm_std, atol=1e-4)
        np.testing.assert_allclose(split.test[0], (raw_test - split.norm_mean) / split.norm_std, atol=1e-4)
        assert abs(float(split.train.mean(dtype=np.float64))) < 1e-5
        assert float(split.train.std(dtype=np.float64)) == pytest.approx(1.0, abs=1e-4)
    means = [m.norm_mean for m in movies.values()]
    assert len(set(means)) == len(means), "each session has its own statistics"


def test_unnormalised_stimuli_keep_stored_values(small: SyntheticSample) -> None:
    (split,) = load_all_stimuli(small.data_dir, stim_type="whitenoise", normalize_stimuli=False).values()
    raw = read(session_file(small.data_dir, CELLNN_SESSION, "whitenoise"), "train/stimulus")
    np.testing.assert_array_equal(split.train[0], raw)
    assert split.norm_mean is None and split.norm_std is None


# -- responses ----------------------------------------------------------------------------------------------------
def test_test_bin_is_trimmed_explicitly(sample: SyntheticSample, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="openretina_maheswaranathan_2023"):
        responses = load_all_responses(sample.data_dir)
    for session, split in responses.items():
        path = session_file(sample.data_dir, session)
        stored = read(path, "test/response/firing_rate_10ms")
        assert stored.shape[1] == 601, "the synthetic file reproduces the published extra bin"
        assert split.test_response.shape == (stored.shape[0], 600)
        np.testing.assert_allclose(split.test_response, stored[:, :600], rtol=1e-6)
        assert split.session_kwargs["test_bins_trimmed"] == 1
        assert split.session_kwargs["train_bins_trimmed"] == 0
        assert split.train.shape[1] == 7200
    assert any("601 bins for 600 frames" in r.getMessage() for r in caplog.records)


def test_both_repeat_layouts(sample: SyntheticSample) -> None:
    responses = load_all_responses(sample.data_dir, response_type="firing_rate_10ms")
    cellnn = responses[CELLNN_SESSION]
    path = session_file(sample.data_dir, CELLNN_SESSION)
    n = cellnn.n_neurons
    expected = np.stack([read(path, f"test/repeats/cell{c + 1:02d}")[:, :600] for c in range(n)], axis=1)
    assert cellnn.session_kwargs["repeats_key"] == "test/repeats/cellNN"
    assert cellnn.test_by_trial.shape == (5, n, 600)
    np.testing.assert_array_equal(cellnn.test_by_trial, expected)

    typed = responses[TYPED_SESSION]
    path = session_file(sample.data_dir, TYPED_SESSION)
    assert typed.session_kwargs["repeats_key"] == "test/repeats/firing_rate_10ms"
    np.testing.assert_allclose(
        typed.test_by_trial, read(path, "test/repeats/firing_rate_10ms")[..., :600], rtol=1e-6
    )
    # The averaged test response is the mean of the single trials in this layout.
    np.testing.assert_allclose(typed.test_by_trial.mean(axis=0), typed.test_response, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("response_type", RESPONSE_TYPES)
def test_every_response_type(sample: SyntheticSample, response_type: str) -> None:
    responses = load_all_responses(sample.data_dir, stim_type="whitenoise", response_type=response_type)
    for session, split in responses.items():
        path = session_file(sample.data_dir, session, "whitenoise")
        np.testing.assert_allclose(split.train, read(path, f"train/response/{response_type}"), rtol=1e-6)
        assert split.session_kwargs["response_type"] == response_type
        assert split.test_by_trial is not None and split.test_by_trial.shape[1:] == split.test_response.shape
    typed = responses[TYPED_SESSION]
    assert typed.session_kwargs["repeats_key"] == f"test/repeats/{response_type}"


def test_fr_normalization_scales_responses_and_repeats(sample: SyntheticSample) -> None:
    plain = load_all_responses(sample.data_dir, response_type="binned")
    scaled = load_all_responses(sample.data_dir, response_type="binned", fr_normalization=4.0)
    for session in plain:
        a, b = plain[session], scaled[session]
        assert a.train.sum() > 0 and a.test_by_trial.sum() > 0
        np.testing.assert_allclose(b.train, a.train / 4.0, rtol=1e-6)
        np.testing.assert_allclose(b.test_response, a.test_response / 4.0, rtol=1e-6)
        np.testing.assert_allclose(b.test_by_trial, a.test_by_trial / 4.0, rtol=1e-6)  # both repeat layouts
        assert b.session_kwargs["fr_normalization"] == 4.0
    with pytest.raises(ValueError, match="fr_normalization"):
        load_all_responses(sample.data_dir, fr_normalization=0.0)


def test_cellnn_repeats_are_ordered_by_cell_number(tmp_path: Path) -> None:
    sample = write_sample(tmp_path, seed=2, n_sessions=1, n_train=2000, n_test=200, n_cells=11)
    path = session_file(sample.data_dir, CELLNN_SESSION)
    originals = {c: read(path, f"test/repeats/cell{c:02d}") for c in range(1, 12)}
    with h5py.File(
        path, "r+"
    ) as h5:  # unpadded names: lexical order would be cell1, cell10, cell11, cell2...
        for c in range(1, 12):
            h5.move(f"test/repeats/cell{c:02d}", f"test/repeats/cell{c}")
    (split,) = load_all_responses(sample.data_dir).values()
    for c in range(1, 12):
        np.testing.assert_array_equal(split.test_by_trial[:, c - 1], originals[c][:, :200])


# -- options and errors ------------------------------------------------------------------------------------------
def test_invalid_stim_and_response_types_list_valid_values(sample: SyntheticSample) -> None:
    with pytest.raises(ValueError, match=r"stim_type must be one of \['naturalscene', 'whitenoise'\]"):
        get_maheswaranathan_dataloaders(data_dir=sample.data_dir, stim_type="checkerboard")
    with pytest.raises(ValueError, match="firing_rate_10ms") as excinfo:
        load_all_responses(sample.data_dir, response_type="firing_rate_15ms")
    assert all(name in str(excinfo.value) for name in RESPONSE_TYPES)
    with pytest.raises(TypeError, match="an option of .maheswaranathan_2023.") as excinfo:
        get_maheswaranathan_dataloaders(data_dir=sample.data_dir, clip_lenght=90)
    assert str(excinfo.value).startswith("clip_lenght") and "did you mean 'clip_length'" in str(excinfo.value)


def test_registry_passes_options(sample: SyntheticSample) -> None:
    from openretina_core import get_dataloaders

    loaders = get_dataloaders(
        "maheswaranathan_2023",
        data_dir=sample.data_dir,
        batch_size=4,
        stim_type="whitenoise",
        response_type="binned",
        sessions=[TYPED_SESSION],
    )
    assert list(loaders["train"]) == [TYPED_SESSION]
    assert loaders.data_info["stim_type"] == "whitenoise" and loaders.data_info["response_type"] == "binned"
    _, targets = next(iter(loaders["train"][TYPED_SESSION]))
    assert torch.equal(targets, targets.round()), "binned responses are spike counts"


def test_session_subset_and_unknown_session(sample: SyntheticSample) -> None:
    movies = load_all_stimuli(sample.data_dir, sessions=[TYPED_SESSION])
    assert list(movies) == [TYPED_SESSION]
    with pytest.raises(ValueError, match=r"unknown session\(s\) \['15-11-21z'\].*available: \['15-10-07'"):
        load_all_responses(sample.data_dir, sessions=["15-11-21z"])


def test_folder_without_stim_file_is_skipped(
    small: SyntheticSample, caplog: pytest.LogCaptureFixture
) -> None:
    extra = Path(small.data_dir) / "ganglion_cell_data" / "15-11-21b"
    extra.mkdir()
    (extra / "whitenoise.h5").write_bytes(b"")  # only the other stimulus
    with caplog.at_level(logging.WARNING, logger="openretina_maheswaranathan_2023"):
        responses = load_all_responses(small.data_dir, stim_type="naturalscene")
    assert list(responses) == [CELLNN_SESSION]
    assert any("15-11-21b" in r.getMessage() and "naturalscene.h5" in r.getMessage() for r in caplog.records)


def test_no_sessions_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "neural_code_data" / "ganglion_cell_data"
    (folder / "15-10-07").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="download=True") as excinfo:
        load_all_stimuli(tmp_path / "neural_code_data")
    assert str(folder) in str(excinfo.value)
    with pytest.raises(FileNotFoundError, match="does not exist") as excinfo:
        get_maheswaranathan_dataloaders(data_dir=tmp_path / "elsewhere", download=False)
    assert str(tmp_path / "elsewhere") in str(excinfo.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no ganglion_cell_data/ folder") as excinfo:
        get_maheswaranathan_dataloaders(data_dir=tmp_path / "empty", download=False)
    assert str(tmp_path / "empty") in str(excinfo.value) and "download=True" in str(excinfo.value)


def test_data_root_may_be_the_parent_or_the_session_folder(small: SyntheticSample) -> None:
    data_dir = Path(small.data_dir)
    for root in (data_dir, data_dir.parent, data_dir / "ganglion_cell_data"):
        assert list(load_all_responses(root)) == [CELLNN_SESSION]


def test_other_length_mismatches_are_errors(small: SyntheticSample) -> None:
    path = session_file(small.data_dir, CELLNN_SESSION)
    with h5py.File(path, "r+") as h5:
        data = h5["test/response/firing_rate_10ms"][...]
        del h5["test/response/firing_rate_10ms"]
        h5["test/response/firing_rate_10ms"] = np.concatenate([data, data[:, :2]], axis=1)  # 203 bins for 200
    with pytest.raises(ValueError, match="203 time bins") as excinfo:
        load_all_responses(small.data_dir)
    assert str(path) in str(excinfo.value) and "test/response/firing_rate_10ms" in str(excinfo.value)
    with h5py.File(path, "r+") as h5:
        data = h5["train/response/binned"][...]
        del h5["train/response/binned"]
        h5["train/response/binned"] = data[:, :-5]
    with pytest.raises(ValueError, match="train/response/binned"):
        load_all_responses(small.data_dir, response_type="binned")


def test_missing_key_names_file_and_key(small: SyntheticSample) -> None:
    path = session_file(small.data_dir, CELLNN_SESSION)
    with h5py.File(path, "r+") as h5:
        del h5["train/response/firing_rate_20ms"]
    with pytest.raises(KeyError, match="train/response/firing_rate_20ms") as excinfo:
        load_all_responses(small.data_dir, response_type="firing_rate_20ms")
    assert str(path) in str(excinfo.value) and "firing_rate_10ms" in str(excinfo.value)  # lists what is there


def test_non_finite_stimulus_is_an_error(small: SyntheticSample) -> None:
    path = session_file(small.data_dir, CELLNN_SESSION)
    with h5py.File(path, "r+") as h5:
        h5["train/stimulus"][7, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite") as excinfo:
        load_all_stimuli(small.data_dir)
    assert str(path) in str(excinfo.value)
