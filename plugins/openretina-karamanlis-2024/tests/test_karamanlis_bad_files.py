"""Damaged session .mat files give a BadFileError naming the file (issue 16, classes 1-3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from openretina_karamanlis_2024.layout import SessionFile
from openretina_karamanlis_2024.responses import load_session_responses
from openretina_karamanlis_2024.sample import MARMOSET, write_sample
from openretina_karamanlis_2024.stimuli import load_session_stimuli, make_composer

from openretina_core import BadFileError
from openretina_core.testing import DAMAGE_KINDS, assert_names_file, damage_file

SMALL: dict[str, Any] = {"blocks": 2, "frames_per_block": 40, "frozen_frames": 20, "trials": 2}


@pytest.fixture
def session(tmp_path: Path) -> SessionFile:
    root = write_sample(tmp_path / "data", seed=1, n_images=4, n_neurons=3, **SMALL).data_dir
    path = Path(root) / "sessions" / MARMOSET / f"{MARMOSET}_fixationmovie_data.mat"
    return SessionFile(session=MARMOSET, species="marmoset", path=path, source=path)


def _stimuli(file: SessionFile, normalize: bool = True) -> Any:
    return load_session_stimuli(
        file, "fixationmovie", make_composer((20, 20), None), normalize_stimuli=normalize, use_cache=False
    )


def _responses(file: SessionFile) -> Any:
    return load_session_responses(file, "fixationmovie")


def _replace(path: Path, key: str, data: np.ndarray) -> None:
    with h5py.File(path, "r+") as h5:
        del h5[key]
        h5[key] = data


def _read(path: Path, key: str) -> np.ndarray:
    with h5py.File(path, "r") as h5:
        return h5[key][...]


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
@pytest.mark.parametrize("reader", [_stimuli, _responses])
def test_damaged_file_is_a_bad_file_error(session: SessionFile, kind: str, reader: Any) -> None:
    damage_file(session.path, kind)
    with pytest.raises(BadFileError, match="MATLAB v7.3") as info:
        reader(session)
    assert_names_file(info.value, session.path)


@pytest.mark.parametrize(("key", "reader"), [("runningImages", _stimuli), ("runningbin", _responses)])
def test_complex_values_are_refused(session: SessionFile, key: str, reader: Any) -> None:
    _replace(session.path, key, _read(session.path, key).astype(np.complex64))
    with pytest.raises(BadFileError, match=f"{key}.*complex") as info:
        reader(session)
    assert_names_file(info.value, session.path)


def test_strings_name_the_key(session: SessionFile) -> None:
    _replace(session.path, "frozenbin", np.array([[[b"x"]]]))
    with pytest.raises(BadFileError, match="frozenbin"):
        _responses(session)


def test_inf_in_responses_is_refused(session: SessionFile) -> None:
    data = _read(session.path, "runningbin").astype(np.float32)
    data.reshape(-1)[5] = np.inf
    _replace(session.path, "runningbin", data)
    with pytest.raises(BadFileError, match="runningbin.*1 infinite"):
        _responses(session)


@pytest.mark.parametrize("normalize", [True, False])
def test_nan_images_are_reported_as_nan(session: SessionFile, normalize: bool) -> None:
    images = _read(session.path, "runningImages").astype(np.float32)
    _replace(session.path, "runningImages", np.full_like(images, np.nan))
    with pytest.raises(BadFileError, match="NaN"):
        _stimuli(session, normalize)


def test_missing_key_is_a_bad_file_and_key_error(session: SessionFile) -> None:
    with h5py.File(session.path, "r+") as h5:
        del h5["frozenbin"]
    with pytest.raises(KeyError) as info:
        _responses(session)
    assert_names_file(info.value, session.path)
