"""Damaged session files and .npy stimuli give a BadFileError naming the file (issue 16, classes 1-3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from openretina_hdf5.reading import load_hdf5
from openretina_hdf5.sample import write_sample

from openretina_core import BadFileError
from openretina_core.testing import DAMAGE_KINDS, assert_names_file, damage_file


@pytest.fixture
def sample(tmp_path: Path) -> Any:
    return write_sample(tmp_path, seed=0, num_sessions=1, num_stimuli=2, clip_length=20, first_clips=2)


def _session(sample: Any) -> Path:
    (path,) = sorted(Path(sample.data_dir).glob("*.hdf5"))
    return path


def _stimulus(sample: Any) -> Path:
    return sorted((Path(sample.data_dir) / "stimuli").glob("*.npy"))[0]


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
@pytest.mark.parametrize("which", [_session, _stimulus])
def test_damaged_file_is_a_bad_file_error(sample: Any, kind: str, which: Any) -> None:
    path = damage_file(which(sample), kind)
    with pytest.raises(BadFileError) as info:
        load_hdf5(sample.data_dir)
    assert_names_file(info.value, path)


def test_npy_shorter_than_its_header(sample: Any) -> None:
    path = _stimulus(sample)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(BadFileError) as info:
        load_hdf5(sample.data_dir)
    assert_names_file(info.value, path)


def _first_response(path: Path) -> tuple[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        key = sorted(k for k in h5 if k.startswith("responses_"))[0]
        return key, h5[key][...]


def _replace(path: Path, key: str, data: np.ndarray) -> None:
    with h5py.File(path, "r+") as h5:
        del h5[key]
        h5[key] = data


@pytest.mark.parametrize(
    ("convert", "match"),
    [
        (lambda a: a.astype(np.complex128), "complex128"),
        (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 3, np.inf, a), "1 infinite"),
        (lambda a: np.full(a.shape, b"x"), "dtype"),
    ],
)
def test_bad_response_values(sample: Any, convert: Any, match: str) -> None:
    path = _session(sample)
    key, data = _first_response(path)
    _replace(path, key, convert(data))
    with pytest.raises(BadFileError, match=match) as info:
        load_hdf5(sample.data_dir)
    assert_names_file(info.value, path)


def test_nan_responses_are_kept_for_the_nan_policy(sample: Any) -> None:
    path = _session(sample)
    key, data = _first_response(path)
    data[0, 1] = np.nan
    _replace(path, key, data)
    loaded = load_hdf5(sample.data_dir)
    assert np.isnan(next(iter(loaded.responses.values())).train).sum() == 1


def test_complex_stimulus_is_refused(sample: Any) -> None:
    path = _stimulus(sample)
    np.save(path, np.load(path).astype(np.complex64))
    with pytest.raises(BadFileError, match="complex64") as info:
        load_hdf5(sample.data_dir)
    assert_names_file(info.value, path)
