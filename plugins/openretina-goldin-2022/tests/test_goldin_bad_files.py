"""Damaged session files give a BadFileError naming the file and what was expected (issue 16, classes 1-3)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from openretina_goldin_2022.responses import load_responses_for_session
from openretina_goldin_2022.sample import write_sample
from openretina_goldin_2022.stimuli import load_stimuli_for_session

from openretina_core import BadFileError
from openretina_core.testing import DAMAGE_KINDS, assert_names_file, damage_file

TRAIN_RESPONSE = "train/response/binned"


@pytest.fixture
def session_file(tmp_path: Path) -> Path:
    sample = write_sample(tmp_path, seed=1, sessions={"mouse": ("mouse", 4, True)}, n_train=120, n_test=10)
    return Path(sample.data_dir) / "mouse.h5"


def _replace(path: Path, key: str, data: np.ndarray) -> None:
    with h5py.File(path, "r+") as h5:
        del h5[key]
        h5[key] = data


def _read(path: Path, key: str) -> np.ndarray:
    with h5py.File(path, "r") as h5:
        return h5[key][...]


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
@pytest.mark.parametrize("reader", [load_stimuli_for_session, load_responses_for_session])
def test_damaged_file_is_a_bad_file_error(session_file: Path, kind: str, reader) -> None:
    damage_file(session_file, kind)
    with pytest.raises(BadFileError, match="HDF5") as info:
        reader(session_file)
    assert_names_file(info.value, session_file)


@pytest.mark.parametrize(
    ("key", "reader"),
    [("train/stimulus", load_stimuli_for_session), (TRAIN_RESPONSE, load_responses_for_session)],
)
def test_complex_values_are_refused(session_file: Path, key: str, reader) -> None:
    _replace(session_file, key, _read(session_file, key).astype(np.complex64) + 1j)
    with pytest.raises(BadFileError, match=f"{key}.*complex") as info:
        reader(session_file)
    assert_names_file(info.value, session_file)


def test_strings_name_the_key(session_file: Path) -> None:
    _replace(session_file, "test/stimulus", np.array([[[b"abc"]]]))
    with pytest.raises(BadFileError, match="test/stimulus"):
        load_stimuli_for_session(session_file)


def test_inf_in_responses_is_refused_nan_is_kept(session_file: Path) -> None:
    data = _read(session_file, TRAIN_RESPONSE).astype(np.float32)
    data[0, 3] = np.nan
    _replace(session_file, TRAIN_RESPONSE, data)
    assert np.isnan(load_responses_for_session(session_file).train[0, 3])  # the nan_policy's business
    data[1, 4] = np.inf
    _replace(session_file, TRAIN_RESPONSE, data)
    with pytest.raises(BadFileError, match="1 infinite"):
        load_responses_for_session(session_file)


@pytest.mark.parametrize("normalize", [True, False])
def test_nan_images_are_reported_as_nan(session_file: Path, normalize: bool) -> None:
    shape = _read(session_file, "train/stimulus").shape
    _replace(session_file, "train/stimulus", np.full(shape, np.nan, dtype=np.float32))
    with pytest.raises(BadFileError, match="NaN"):
        load_stimuli_for_session(session_file, normalize_stimuli=normalize)


def test_zero_images_is_a_clear_error(session_file: Path) -> None:
    _replace(session_file, "train/stimulus", np.zeros((0, 108, 108), dtype=np.float32))
    with pytest.raises(BadFileError, match="no frames"):
        load_stimuli_for_session(session_file)
