"""Stimuli published narrower than float32 are stored compact and decode to the in-memory float32 batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from openretina_maheswaranathan_2023.dataloaders import get_maheswaranathan_dataloaders
from openretina_maheswaranathan_2023.sample import write_sample

from openretina_core.data import CompactArray
from openretina_core.store import list_entries, open_entry


def _load(data_dir: Path, **options: Any) -> Any:
    return get_maheswaranathan_dataloaders(batch_size=4, download=False, data_dir=data_dir, **options)


def _movie_dtypes() -> set[str]:
    dtypes = set()
    for usage in list_entries("maheswaranathan_2023"):
        entry = open_entry(usage.path)
        dtypes |= {str(a.dtype) for name, a in entry.arrays.items() if name.startswith("movie_")}
    return dtypes


def _assert_same_batches(expected: Any, actual: Any) -> None:
    for split in ("train", "validation", "test"):
        for session in expected[split]:
            pairs = zip(expected[split][session], actual[split][session], strict=True)
            for (x1, y1), (x2, y2) in pairs:
                assert x2.dtype == torch.float32
                # uint8 converts to float32 exactly and the decode is the float32 path's subtract and divide,
                # so the batches agree bit for bit (not only within rounding).
                assert torch.equal(x1, x2) and torch.equal(y1, y2), (split, session)


@pytest.mark.parametrize("published", ["uint8", "float16"])
def test_narrow_published_stimuli_are_stored_compact_and_batches_equal_float32(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, published: str
) -> None:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    data_dir = write_sample(tmp_path / "data", seed=5, n_sessions=2, stimulus_dtype=published).data_dir
    first = _load(data_dir)
    assert _movie_dtypes() == {published}
    second = _load(data_dir)
    # Fresh loaders for each comparison: iterating a train loader again draws the next epoch's order.
    _assert_same_batches(_load(data_dir, prepared=False), first)
    memory = _load(data_dir, prepared=False)
    _assert_same_batches(memory, second)
    assert second.data_info["stim_mean"] == memory.data_info["stim_mean"]
    movies = second["train"][next(iter(second["train"]))].dataset
    assert movies.movie.dtype == getattr(torch, published), "the mapped movie stays compact"


def test_store_dtype_float32_forces_float32_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    data_dir = write_sample(tmp_path / "data", seed=5, n_sessions=1, stimulus_dtype="uint8").data_dir
    memory = _load(data_dir, prepared=False)
    forced = _load(data_dir, store_dtype="float32")
    assert _movie_dtypes() == {"float32"}
    _assert_same_batches(memory, forced)
    with pytest.raises(ValueError, match="store_dtype"):
        _load(data_dir, store_dtype="int4")


def test_float32_published_stimuli_stay_float32(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    data_dir = write_sample(tmp_path / "data", seed=5, n_sessions=1).data_dir
    _load(data_dir)
    assert _movie_dtypes() == {"float32"}


def test_compact_containers_decode_to_the_float32_containers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openretina_maheswaranathan_2023.layout import find_session_files
    from openretina_maheswaranathan_2023.stimuli import load_stimuli_for_session

    data_dir = write_sample(tmp_path / "data", seed=5, n_sessions=1, stimulus_dtype="uint8").data_dir
    (path,) = find_session_files(data_dir, "naturalscene", None).values()
    reference = load_stimuli_for_session(path)
    compact = load_stimuli_for_session(path, store_dtype="published")
    assert isinstance(compact.train, CompactArray) and compact.train.dtype == np.uint8
    assert compact.norm_mean == reference.norm_mean and compact.norm_std == reference.norm_std
    np.testing.assert_array_equal(compact.train.decoded(), reference.train)
    np.testing.assert_array_equal(compact.test.decoded(), reference.test)
