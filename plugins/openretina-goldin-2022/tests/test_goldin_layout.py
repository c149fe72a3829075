"""Reading the published layout: both species, optional repeats, z-scoring, units, session selection."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from openretina_goldin_2022 import (
    get_goldin_dataloaders,
    load_all_responses,
    load_all_stimuli,
    load_test_repeats_for_session,
    write_sample,
)

from openretina_core.registry import SyntheticSample

CELLS = {"mouse": 40, "mouse_2": 36, "axolotl": 48}
REPEATS = {"mouse": 30, "mouse_2": 0, "axolotl": 20}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSample:
    return write_sample(tmp_path_factory.mktemp("goldin_layout"), seed=0)


def read(path: Path, key: str) -> np.ndarray:
    with h5py.File(path, "r") as h5:
        return np.asarray(h5[key][...], dtype=np.float64)


def session_file(sample: SyntheticSample, session: str) -> Path:
    return Path(sample.data_dir) / f"{session}.h5"


def test_the_sample_is_the_published_layout(sample: SyntheticSample) -> None:
    for session, n_cells in CELLS.items():
        with h5py.File(session_file(sample, session), "r") as h5:
            assert h5["train/stimulus"].shape == (1600, 108, 108)
            assert h5["test/stimulus"].shape == (30, 108, 108)
            assert h5["train/response/binned"].shape == (n_cells, 1600)
            assert h5["test/response/binned"].shape == (n_cells, 30)
            if REPEATS[session]:
                assert sorted(h5["test/repeats"]) == sorted(f"cell{k}" for k in range(n_cells))
                assert h5["test/repeats/cell0"].shape == (REPEATS[session], 30)
            else:
                assert "repeats" not in h5["test"]


@pytest.mark.parametrize(("species", "sessions"), [("mouse", ["mouse", "mouse_2"]), ("axolotl", ["axolotl"])])
def test_loaders_of_each_species(sample: SyntheticSample, species: str, sessions: list[str]) -> None:
    loaders = get_goldin_dataloaders(data_dir=sample.data_dir, species=species)
    assert set(loaders) == {"train", "validation", "test"}
    for split in loaders.values():
        assert sorted(split) == sessions
    for session in sessions:
        n = CELLS[session]
        inputs, targets = next(iter(loaders["train"][session]))
        assert tuple(inputs.shape) == (16, 1, 1, 108, 108) and tuple(targets.shape) == (16, 1, n)
        assert inputs.dtype == targets.dtype == torch.float32
        assert len(loaders["train"][session]) == (1600 - 640) // 16
        assert sum(b.inputs.shape[0] for b in loaders["validation"][session]) == 640
        test_batches = list(loaders["test"][session])
        assert [b.inputs.shape[0] for b in test_batches] == [16, 14], "one sample per test image, batch 16"
        by_trial = loaders["test"][session].dataset.test_responses_by_trial
        if REPEATS[session]:
            assert tuple(by_trial.shape) == (REPEATS[session], n, 30)
        else:
            assert by_trial is None
    info = loaders.data_info
    assert info["input_shape"] == (1, 108, 108) and info["movie_copies_made"] == 0
    assert info["species"] == species and info["stimulus_rate_hz"] is None
    assert info["n_neurons_dict"] == {s: CELLS[s] for s in sessions}
    assert info["n_repeats"] == {s: REPEATS[s] for s in sessions}
    assert info["retina_pixel_size_um"] == 28.0 and info["response_unit"] == "spikes/s"


def test_images_are_zscored_per_session_with_recorded_statistics(sample: SyntheticSample) -> None:
    movies = load_all_stimuli(sample.data_dir, species="mouse")
    assert sorted(movies) == ["mouse", "mouse_2"]
    for session, split in movies.items():
        path = session_file(sample, session)
        raw_train, raw_test = read(path, "train/stimulus"), read(path, "test/stimulus")
        assert split.norm_mean == pytest.approx(raw_train.mean(), rel=1e-6)
        assert split.norm_std == pytest.approx(raw_train.std(ddof=1), rel=1e-6)
        assert split.train.shape == (1, 1600, 108, 108) and split.test.shape == (1, 30, 108, 108)
        assert split.train.dtype == np.float32
        assert split.train.transpose(1, 0, 2, 3).flags.c_contiguous, "an image-major buffer, viewed"
        np.testing.assert_allclose(split.train[0], (raw_train - split.norm_mean) / split.norm_std, atol=1e-5)
        np.testing.assert_allclose(split.test[0], (raw_test - split.norm_mean) / split.norm_std, atol=1e-5)
    assert movies["mouse"].norm_mean != movies["mouse_2"].norm_mean, "each session has its own statistics"
    (raw,) = load_all_stimuli(sample.data_dir, species="axolotl", normalize_stimuli=False).values()
    np.testing.assert_array_equal(raw.train[0], read(session_file(sample, "axolotl"), "train/stimulus"))
    assert raw.norm_mean is None and raw.norm_std is None


def test_uint8_images_load_like_float32_images(tmp_path: Path) -> None:
    table = {"mouse": ("mouse", 4, True)}
    as_float = write_sample(tmp_path / "f32", seed=3, sessions=table, n_train=300)
    as_uint8 = write_sample(tmp_path / "u8", seed=3, sessions=table, n_train=300, stimulus_dtype="uint8")
    with h5py.File(Path(as_uint8.data_dir) / "mouse.h5", "r") as h5:
        assert h5["train/stimulus"].dtype == np.uint8
    (a,) = load_all_stimuli(as_float.data_dir).values()
    (b,) = load_all_stimuli(as_uint8.data_dir).values()
    np.testing.assert_allclose(a.train, b.train, atol=1e-4)  # same gray levels, 0..1 or 0..255
    np.testing.assert_allclose(a.test, b.test, atol=1e-4)


def test_responses_are_counts_over_fr_normalization(sample: SyntheticSample) -> None:
    hz = load_all_responses(sample.data_dir, species="mouse")
    counts = load_all_responses(sample.data_dir, species="mouse", fr_normalization=1.0)
    for session in ("mouse", "mouse_2"):
        path = session_file(sample, session)
        stored = read(path, "train/response/binned")
        assert np.array_equal(stored, np.round(stored)) and stored.sum() > 0, "the file holds spike counts"
        np.testing.assert_allclose(hz[session].train, stored / 0.3, rtol=1e-6)
        np.testing.assert_allclose(counts[session].train, stored, rtol=1e-6)
        np.testing.assert_allclose(
            hz[session].test_response, read(path, "test/response/binned") / 0.3, rtol=1e-6
        )
        assert hz[session].session_kwargs["fr_normalization"] == 0.3
    trials = hz["mouse"].test_by_trial
    assert trials.shape == (30, 40, 30)
    np.testing.assert_allclose(trials, counts["mouse"].test_by_trial / 0.3, rtol=1e-6)
    np.testing.assert_allclose(trials.mean(axis=0), hz["mouse"].test_response, rtol=1e-5, atol=1e-5)
    assert hz["mouse_2"].test_by_trial is None, "test/repeats is optional"
    with pytest.raises(ValueError, match="fr_normalization"):
        load_all_responses(sample.data_dir, fr_normalization=0)


def test_repeats_are_stacked_in_order_of_the_cell_number(sample: SyntheticSample) -> None:
    path = session_file(sample, "axolotl")
    trials = load_test_repeats_for_session(path, fr_normalization=1.0)
    assert trials is not None and trials.shape == (20, 48, 30)
    for cell in (0, 2, 10, 47):  # lexical order would put cell10 before cell2
        np.testing.assert_array_equal(trials[:, cell], read(path, f"test/repeats/cell{cell}"))
    assert load_test_repeats_for_session(session_file(sample, "mouse_2")) is None


def test_cell_underscore_names_are_read_too(tmp_path: Path) -> None:
    sample = write_sample(tmp_path, sessions={"mouse": ("mouse", 12, True)}, n_train=200)
    path = Path(sample.data_dir) / "mouse.h5"
    before = load_test_repeats_for_session(path)
    with h5py.File(path, "r+") as h5:
        for cell in range(12):
            h5.move(f"test/repeats/cell{cell}", f"test/repeats/cell_{cell}")
    np.testing.assert_array_equal(load_test_repeats_for_session(path), before)


def test_species_is_a_name_component_of_h5_files(sample: SyntheticSample, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(sample.data_dir, folder)
    shutil.copy(folder / "mouse.h5", folder / "2019Mouse-retina3.h5")  # a component, any case
    shutil.copy(folder / "mouse.h5", folder / "dormouse.h5")  # not a component
    (folder / "mouse_notes.txt").write_text("not a session")
    (folder / "mouse_extra").mkdir()  # a folder whose name contains the species
    (folder / "mouse_axolotl.h5").write_bytes(b"")  # names both species: neither's session
    responses = load_all_responses(folder, species="mouse")
    assert sorted(responses) == ["2019Mouse-retina3", "mouse", "mouse_2"]
    assert responses["2019Mouse-retina3"].session_kwargs["species"] == "mouse"
    assert sorted(load_all_stimuli(folder, species="axolotl")) == ["axolotl"]
    assert sorted(load_all_responses(folder, specie="axolotl")) == ["axolotl"], "openretina's keyword"
    assert sorted(load_all_responses(folder, "binned", "naturalscene", "axolotl")) == ["axolotl"]


def test_session_subset_and_registry_options(sample: SyntheticSample) -> None:
    from openretina_core import get_dataloaders

    loaders = get_dataloaders(
        "goldin_2022", data_dir=sample.data_dir, batch_size=8, sessions=["mouse_2"], num_val_images=100
    )
    assert list(loaders["train"]) == ["mouse_2"]
    assert len(loaders.data_info["val_image_indices"]["mouse_2"]) == 100
    inputs, targets = next(iter(loaders["train"]["mouse_2"]))
    assert tuple(inputs.shape) == (8, 1, 1, 108, 108) and tuple(targets.shape) == (8, 1, 36)
    assert torch.allclose(targets * 0.3, (targets * 0.3).round(), atol=1e-4), "spike counts / 0.3 s"
    with pytest.raises(ValueError, match=r"unknown mouse session\(s\) \['mouse_9'\].*available"):
        load_all_responses(sample.data_dir, sessions=["mouse_9"])
    together = get_goldin_dataloaders(data_dir=sample.data_dir, allow_over_boundaries=True)
    (test_batch,) = list(together["test"]["mouse"])
    assert tuple(test_batch.inputs.shape) == (1, 1, 30, 108, 108), "all test images in one sample"
