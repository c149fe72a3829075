"""Bad input gives clear errors: they name the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from openretina_goldin_2022 import get_goldin_dataloaders, load_all_responses, load_all_stimuli, write_sample

from openretina_core.registry import SyntheticSample


@pytest.fixture
def small(tmp_path: Path) -> SyntheticSample:
    """One small mouse session with repeats, to modify in a test."""
    return write_sample(tmp_path, seed=1, sessions={"mouse": ("mouse", 5, True)}, n_train=200, n_test=10)


def session_path(sample: SyntheticSample) -> Path:
    return Path(sample.data_dir) / "mouse.h5"


def replace(path: Path, key: str, data: np.ndarray) -> None:
    with h5py.File(path, "r+") as h5:
        del h5[key]
        h5[key] = data


def test_missing_keys_name_the_file_and_the_key(small: SyntheticSample) -> None:
    path = session_path(small)
    with h5py.File(path, "r+") as h5:
        del h5["train/response/binned"]
    with pytest.raises(KeyError, match="train/response/binned") as excinfo:
        load_all_responses(small.data_dir)
    assert str(path) in str(excinfo.value) and "is missing" in str(excinfo.value)
    with h5py.File(path, "r+") as h5:
        del h5["test/stimulus"]
    with pytest.raises(KeyError, match="test/stimulus") as excinfo:
        load_all_stimuli(small.data_dir)
    assert str(path) in str(excinfo.value) and "'test' holds ['repeats', 'response']" in str(excinfo.value)


def test_repeats_whose_mean_disagrees_are_an_error(small: SyntheticSample) -> None:
    path = session_path(small)
    with h5py.File(path, "r") as h5:
        trials = h5["test/repeats/cell3"][...]
    trials[:, 7] += 2.0  # the stored average no longer is their mean
    replace(path, "test/repeats/cell3", trials)
    with pytest.raises(ValueError, match="disagrees with the stored test average") as excinfo:
        get_goldin_dataloaders(data_dir=small.data_dir, num_val_images=50)
    message = str(excinfo.value)
    assert str(path) in message and "cell 3, test image 7" in message and "check_repeats=False" in message
    responses = load_all_responses(small.data_dir, check_repeats=False)
    assert responses["mouse"].test_by_trial.shape == (30, 5, 10)


def test_image_and_response_counts_must_agree(small: SyntheticSample) -> None:
    path = session_path(small)
    with h5py.File(path, "r") as h5:
        counts = h5["train/response/binned"][...]
    replace(path, "train/response/binned", counts[:, :-3])
    with pytest.raises(ValueError, match="responses to 197 images but 'train/stimulus' holds 200") as excinfo:
        get_goldin_dataloaders(data_dir=small.data_dir, num_val_images=50)
    assert str(path) in str(excinfo.value) and "(cells, 200)" in str(excinfo.value)
    replace(path, "train/response/binned", counts)
    with h5py.File(path, "r") as h5:
        test = h5["test/response/binned"][...]
    replace(path, "test/response/binned", test[:, :8])
    with pytest.raises(ValueError, match="'test/stimulus' holds 10 images") as excinfo:
        load_all_responses(small.data_dir)
    assert str(path) in str(excinfo.value)


def test_repeats_must_cover_every_cell_and_test_image(small: SyntheticSample) -> None:
    path = session_path(small)
    with h5py.File(path, "r+") as h5:
        del h5["test/repeats/cell4"]
    with pytest.raises(ValueError, match="holds 4 cell<k> datasets .* 5 cells") as excinfo:
        load_all_responses(small.data_dir)
    assert str(path) in str(excinfo.value)
    with h5py.File(path, "r+") as h5:
        h5["test/repeats/cell4"] = np.zeros((30, 9), np.float32)
    with pytest.raises(ValueError, match=r"'test/repeats/cell4' has shape \(30, 9\); expected") as excinfo:
        load_all_responses(small.data_dir)
    assert "10 images" in str(excinfo.value)


def test_train_and_test_cells_and_image_sizes_must_agree(small: SyntheticSample) -> None:
    path = session_path(small)
    with h5py.File(path, "r") as h5:
        test = h5["test/response/binned"][...]
        images = h5["test/stimulus"][...]
    replace(path, "test/response/binned", test[:4])
    with pytest.raises(ValueError, match="has 4 cells but 'train/response/binned' has 5"):
        load_all_responses(small.data_dir)
    replace(path, "test/stimulus", images[:, :100, :100])
    with pytest.raises(ValueError, match=r"images are \(100, 100\) pixels .* \(108, 108\)") as excinfo:
        load_all_stimuli(small.data_dir)
    assert str(path) in str(excinfo.value)
    replace(path, "test/stimulus", images[:, :, :, None])
    with pytest.raises(ValueError, match=r"expected \(images, height, width\)"):
        load_all_stimuli(small.data_dir)


def test_non_finite_images_are_an_error(small: SyntheticSample) -> None:
    path = session_path(small)
    with h5py.File(path, "r+") as h5:
        h5["train/stimulus"][17, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite") as excinfo:
        load_all_stimuli(small.data_dir)
    assert str(path) in str(excinfo.value)


def test_invalid_options_list_the_valid_values(small: SyntheticSample) -> None:
    with pytest.raises(ValueError, match=r"species must be one of \['mouse', 'axolotl'\]"):
        get_goldin_dataloaders(data_dir=small.data_dir, species="salamander")
    with pytest.raises(ValueError, match=r"split must be one of \('seeded', 'openretina'\)"):
        get_goldin_dataloaders(data_dir=small.data_dir, split="random")
    with pytest.raises(ValueError, match=r"response_type must be one of \['binned'\]"):
        load_all_responses(small.data_dir, response_type="firing_rate_300ms")
    with pytest.raises(TypeError, match="an option of .goldin_2022.") as excinfo:
        get_goldin_dataloaders(data_dir=small.data_dir, clip_length=5)
    assert "clip_length" in str(excinfo.value) and "num_val_images" in str(excinfo.value)
    with pytest.raises(ValueError, match="640 validation clips requested, only 200 exist"):
        get_goldin_dataloaders(data_dir=small.data_dir)
    with pytest.raises(ValueError, match="disagree"):
        load_all_stimuli(small.data_dir, species="mouse", specie="axolotl")


def test_no_session_is_a_clear_error(small: SyntheticSample, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no axolotl session") as excinfo:
        get_goldin_dataloaders(data_dir=small.data_dir, species="axolotl")
    assert str(small.data_dir) in str(excinfo.value) and "mouse.h5" in str(excinfo.value)
    with pytest.raises(FileNotFoundError, match="does not exist") as excinfo:
        get_goldin_dataloaders(data_dir=tmp_path / "elsewhere")
    assert str(tmp_path / "elsewhere") in str(excinfo.value)
