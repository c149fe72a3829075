"""The shared movie: one time-major float32 buffer, the published keys, file lookup."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from openretina_hoefling_2024 import constants as c
from openretina_hoefling_2024.stimuli import get_all_movies, load_movies

from openretina_core.registry import SyntheticSample


def test_movie_layout_and_metadata(hoefling_sample: SyntheticSample) -> None:
    movies = get_all_movies(data_dir=hoefling_sample.data_dir)
    assert movies.train.shape == (2, 16200, 18, 16) and movies.test.shape == (2, 750, 18, 16)
    assert movies.train.dtype == np.float32 and movies.stim_id == "natural"
    # One (T, C, H, W) buffer: train and test are consecutive views of it.
    assert np.moveaxis(movies.train, 0, 1).flags.c_contiguous
    assert movies.train.base is movies.test.base or np.shares_memory(movies.train.base, movies.test.base)
    assert movies.random_sequences is not None and movies.random_sequences.shape == (108, 3)
    assert all(sorted(col) == list(range(108)) for col in movies.random_sequences.T)
    assert movies.norm_mean == pytest.approx(36.98) and movies.norm_std == pytest.approx(36.98)
    with open(Path(hoefling_sample.data_dir) / c.STIMULUS_FILES["18x16"], "rb") as handle:
        raw = pickle.load(handle)  # our own synthetic file: safe to load plainly for the comparison
    np.testing.assert_array_equal(movies.train, raw["train"])
    np.testing.assert_array_equal(movies.test, raw["test"])


def test_optional_entries_and_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "movie.pkl"
    content = {"train": rng.normal(size=(2, 300, 3, 4)), "test": rng.normal(size=(2, 150, 3, 4))}  # float64
    with open(path, "wb") as handle:
        pickle.dump(content, handle)
    movies = load_movies(path)
    assert movies.random_sequences is None and movies.norm_mean is None and movies.train.dtype == np.float32
    np.testing.assert_allclose(movies.train, content["train"], rtol=1e-6)
    with open(path, "wb") as handle:
        pickle.dump({"train": content["train"]}, handle)
    with pytest.raises(KeyError, match="'test'"):
        load_movies(path)
    with open(path, "wb") as handle:
        pickle.dump({"train": content["train"], "test": np.zeros((2, 10, 5, 4))}, handle)
    with pytest.raises(ValueError, match="differ in channels or height x width"):
        load_movies(path)
    with pytest.raises(ValueError, match="resolution must be one of"):
        get_all_movies(data_dir=tmp_path, resolution="36x32")
    with pytest.raises(FileNotFoundError) as excinfo:
        get_all_movies(data_dir=tmp_path, resolution="72x64")
    assert "rgc_natstim_72x64_joint_normalized_2024-10-11.pkl" in str(excinfo.value)
    assert "download=True" in str(excinfo.value)
