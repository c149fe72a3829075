"""Damaged response HDF5s and stimulus pickles give a BadFileError naming the file (issue 16, classes 1-3)."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from openretina_hoefling_2024 import constants, load_movies, load_responses

from openretina_core import BadFileError
from openretina_core.registry import SyntheticSample
from openretina_core.testing import DAMAGE_KINDS, assert_names_file, damage_file


@pytest.fixture
def copied(hoefling_sample: SyntheticSample, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the sample's response file and stimulus pickle, to damage."""
    root = Path(hoefling_sample.data_dir)
    responses = Path(shutil.copy(root / constants.RESPONSES_FILE, tmp_path / "responses.h5"))
    movie = Path(shutil.copy(root / constants.STIMULUS_FILES["18x16"], tmp_path / "movie.pkl"))
    return responses, movie


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_damaged_responses_file(copied: tuple[Path, Path], kind: str) -> None:
    responses, _ = copied
    damage_file(responses, kind)
    with pytest.raises(BadFileError, match="HDF5") as info:
        load_responses(responses)
    assert_names_file(info.value, responses)


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_damaged_stimulus_pickle(copied: tuple[Path, Path], kind: str) -> None:
    _, movie = copied
    damage_file(movie, kind)
    with pytest.raises(BadFileError, match="pickle") as info:
        load_movies(movie)
    assert_names_file(info.value, movie)


def _rewrite_movie(path: Path, change: Any) -> None:
    with open(path, "rb") as handle:
        content = pickle.load(handle)  # our own synthetic file
    change(content)
    with open(path, "wb") as handle:
        pickle.dump(content, handle, protocol=4)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda c: c.update(train=c["train"].astype(np.complex64)), "'train' holds complex"),
        (lambda c: c["test"].__setitem__((0, 0, 0, 0), np.nan), "'test' holds 1 NaN"),
        (lambda c: c["train"].__setitem__((1, 2, 3, 4), np.inf), "'train' holds 1 infinite"),
        (lambda c: c.update(train=c["train"][:, :0]), "'train' has no frames"),
        (lambda c: c.pop("test"), "no 'test' entry"),
    ],
)
def test_bad_movie_values(copied: tuple[Path, Path], change: Any, match: str) -> None:
    _, movie = copied
    _rewrite_movie(movie, change)
    with pytest.raises(BadFileError, match=match) as info:
        load_movies(movie)
    assert_names_file(info.value, movie)


def _first_field_key(path: Path) -> tuple[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        field = sorted(h5)[0]
        return f"{field}/natural_inferred_spikes", h5[f"{field}/natural_inferred_spikes"][...]


def _replace(path: Path, key: str, data: np.ndarray) -> None:
    with h5py.File(path, "r+") as h5:
        del h5[key]
        h5[key] = data


@pytest.mark.parametrize(
    ("convert", "match"),
    [
        (lambda a: a.astype(np.complex64), "complex"),
        (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 3, np.inf, a), "1 infinite"),
        (lambda a: np.full(a.shape, b"x"), "dtype"),
    ],
)
def test_bad_trace_values(copied: tuple[Path, Path], convert: Any, match: str) -> None:
    responses, _ = copied
    key, traces = _first_field_key(responses)
    _replace(responses, key, convert(traces))
    with pytest.raises(BadFileError, match=match) as info:
        load_responses(responses)
    assert_names_file(info.value, responses)
    assert key in str(info.value)
