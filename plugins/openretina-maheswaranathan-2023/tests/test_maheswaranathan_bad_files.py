"""Damaged session files give a BadFileError naming the file and what was expected (issue 16, classes 1-3)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from openretina_maheswaranathan_2023 import load_responses_for_session, load_stimuli_for_session, write_sample

from openretina_core import BadFileError
from openretina_core.testing import DAMAGE_KINDS, assert_names_file, damage_file


@pytest.fixture
def session_file(tmp_path: Path) -> Path:
    sample = write_sample(tmp_path, seed=0, n_sessions=1, n_train=400, n_test=100, n_repeats=2)
    return sample.data_dir / "ganglion_cell_data" / "15-10-07" / "naturalscene.h5"


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
@pytest.mark.parametrize("reader", [load_stimuli_for_session, load_responses_for_session])
def test_damaged_file_is_a_bad_file_error(session_file: Path, kind: str, reader) -> None:
    damage_file(session_file, kind)
    with pytest.raises(BadFileError, match="HDF5") as info:
        reader(session_file)
    assert_names_file(info.value, session_file)


def _replace(path: Path, key: str, data: np.ndarray) -> None:
    with h5py.File(path, "r+") as h5:
        del h5[key]
        h5[key] = data


@pytest.mark.parametrize(
    ("key", "reader"),
    [
        ("train/stimulus", load_stimuli_for_session),
        ("train/response/firing_rate_10ms", load_responses_for_session),
    ],
)
def test_complex_values_are_refused(session_file: Path, key: str, reader) -> None:
    with h5py.File(session_file, "r") as h5:
        data = h5[key][...]
    _replace(session_file, key, data.astype(np.complex64) + 1j)
    with pytest.raises(BadFileError, match=f"{key}.*complex") as info:
        reader(session_file)
    assert_names_file(info.value, session_file)


def test_strings_name_the_key(session_file: Path) -> None:
    _replace(session_file, "test/stimulus", np.array([b"abc", b"def"]))
    with pytest.raises(BadFileError, match="test/stimulus"):
        load_stimuli_for_session(session_file)


def test_inf_in_responses_is_refused_nan_is_kept(session_file: Path) -> None:
    key = "train/response/firing_rate_10ms"
    with h5py.File(session_file, "r") as h5:
        data = h5[key][...]
    data[0, 3] = np.nan
    _replace(session_file, key, data)
    assert np.isnan(load_responses_for_session(session_file).train[0, 3])  # the nan_policy's business
    data[1, 4] = np.inf
    _replace(session_file, key, data)
    with pytest.raises(BadFileError, match="1 infinite"):
        load_responses_for_session(session_file)


@pytest.mark.parametrize("normalize", [True, False])
def test_nan_movie_is_reported_as_nan(session_file: Path, normalize: bool) -> None:
    _replace(session_file, "train/stimulus", np.full((400, 50, 50), np.nan, dtype=np.float32))
    with pytest.raises(BadFileError, match="NaN"):
        load_stimuli_for_session(session_file, normalize_stimuli=normalize)


def test_zero_frames_is_a_clear_error(session_file: Path) -> None:
    _replace(session_file, "train/stimulus", np.zeros((0, 50, 50), dtype=np.float32))
    with pytest.raises(BadFileError, match="no frames"):
        load_stimuli_for_session(session_file)


def test_missing_key_is_a_bad_file_and_key_error(session_file: Path) -> None:
    with h5py.File(session_file, "r+") as h5:
        del h5["test/stimulus"]
    with pytest.raises(KeyError) as info:
        load_stimuli_for_session(session_file)
    assert isinstance(info.value, BadFileError)
    assert_names_file(info.value, session_file)
