"""Natural-movie frames of uint8 images stored compact (uint8, a quarter of the bytes) give the same batches,
bit for bit, as frames stored as float32 and as frames kept in memory; the streamed store entry is the
rendered movie."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from openretina_sridhar_2025 import wait_for_store_writes
from openretina_sridhar_2025.constants import FIXATION_FILES
from openretina_sridhar_2025.sample import write_sample

import openretina_core as orc
from openretina_core.data import CompactArray
from openretina_core.store import list_entries


def batches(loaders, split: str, session: str) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy().copy(), y.numpy().copy()) for x, y in loaders[split][session]]


@pytest.mark.slow
def test_compact_float32_and_in_memory_batches_are_identical(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    sample = write_sample(tmp_path / "sample", stim_type="natural_movie")
    options = {**sample.options, "sessions": ["01"]}
    compact = orc.get_dataloaders("sridhar_2025", data_dir=sample.data_dir, **options)
    wide = orc.get_dataloaders("sridhar_2025", data_dir=sample.data_dir, store_dtype="float32", **options)
    memory = orc.get_dataloaders("sridhar_2025", data_dir=sample.data_dir, prepared=False, **options)
    wait_for_store_writes()  # cold loads write their entries in threads
    movies = [u for u in list_entries("sridhar_2025") if u.session.startswith("movie-")]
    assert len(movies) == 2, "published and float32 are two entries"
    stored = sorted(
        (np.load(u.path / "train.npy", mmap_mode="r") for u in movies), key=lambda a: a.dtype.itemsize
    )
    assert [a.dtype for a in stored] == [np.uint8, np.float32] and stored[0].shape == stored[1].shape
    dataset = compact["test"]["01"].dataset
    assert dataset.movie.dtype == torch.uint8 and dataset.movie_map is not None
    assert memory["test"]["01"].dataset.movie.dtype == torch.float32
    for split in ("train", "validation", "test"):
        expected = batches(memory, split, "01")
        assert expected
        for loaders in (compact, wide):
            got = batches(loaders, split, "01")
            assert len(got) == len(expected)
            for (x, y), (ex, ey) in zip(got, expected):
                assert x.dtype == np.float32
                np.testing.assert_array_equal(x, ex)
                np.testing.assert_array_equal(y, ey)
    np.testing.assert_array_equal(dataset.movies.numpy(), memory["test"]["01"].dataset.movies.numpy())


def test_the_compact_entry_is_the_uint8_image_values(tmp_path: Path, monkeypatch) -> None:
    """Mapped back, the entry is a CompactArray whose decoded values are the float32 frames."""
    from openretina_sridhar_2025.entries import prepared_movies
    from openretina_sridhar_2025.render import Geometry
    from openretina_sridhar_2025.stimuli import (
        movie_sources_natural,
        natural_movie_params,
        natural_movie_streams,
        render_session_movies,
    )

    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    sample = write_sample(tmp_path / "sample", stim_type="natural_movie")
    folder = Path(sample.data_dir) / "natural_movie"
    fixation, images = folder / FIXATION_FILES["01"], folder / "stimuli_padded_4"
    options: dict[str, Any] = {"trials": [0, 3], "n_trials": 4, "frames_per_trial": 50, "test_frames": 200}
    params = natural_movie_params(fixation, Geometry(), **options)
    movies = prepared_movies(
        "movie-test",
        params,
        movie_sources_natural(fixation, images),
        lambda allocate: render_session_movies(fixation, images, Geometry(), allocate=allocate, **options),
        use_store=True,
        opened={},
        streams=lambda: natural_movie_streams(fixation, images, Geometry(), compact=True, **options),
    )
    floats = render_session_movies(fixation, images, Geometry(), **options)
    for name in ("test", "train"):
        assert isinstance(movies[name], CompactArray) and movies[name].dtype == np.uint8
        assert movies[name].shape == floats[name].shape
        np.testing.assert_array_equal(movies[name].decoded(1), floats[name])
