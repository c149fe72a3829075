"""Goldin sessions through the core's prepared store: the same batches as reading into memory (float32 and
compact uint8 images), a second load that opens no HDF5 file, new entries when an option or a session file
changes, and the opt-outs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from openretina_goldin_2022 import get_goldin_dataloaders
from openretina_goldin_2022.sample import write_sample

from openretina_core.data import CompactArray
from openretina_core.store import list_entries, open_entry

SMALL = {"n_train": 120, "n_test": 6, "n_repeats": 3}
LOADER = {"batch_size": 8, "num_val_images": 16}


def _sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str = "float32") -> Path:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENRETINA_NO_STORE", raising=False)
    return write_sample(tmp_path / "data", seed=4, stimulus_dtype=dtype, **SMALL).data_dir  # type: ignore[arg-type]


def _load(data_dir: Path, **options: Any) -> Any:
    return get_goldin_dataloaders(data_dir=data_dir, **LOADER, **options)


def _forbid_hdf5(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"an HDF5 file was opened: {args[:1]}")

    monkeypatch.setattr(h5py, "File", refuse)


def _assert_same_batches(left: Any, right: Any) -> None:
    for split in ("train", "validation", "test"):
        assert set(left[split]) == set(right[split])
        for session in left[split]:
            for (x1, y1), (x2, y2) in zip(left[split][session], right[split][session], strict=True):
                assert x1.dtype == x2.dtype == torch.float32
                assert torch.equal(x1, x2) and torch.equal(y1, y2), (split, session)
    for session, loader in left["test"].items():
        trials = loader.dataset.test_responses_by_trial
        other = right["test"][session].dataset.test_responses_by_trial
        assert (trials is None) == (other is None)
        if trials is not None:
            assert torch.equal(torch.as_tensor(trials), torch.as_tensor(other))


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_prepared_equals_in_memory_and_reloads_without_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:
    data_dir = _sample(tmp_path, monkeypatch, dtype)
    memory = _load(data_dir, prepared=False)
    assert list_entries("goldin_2022") == [], "prepared=False writes no entry"
    first = _load(data_dir)
    entries = list_entries("goldin_2022")
    assert {e.session for e in entries} == set(first["train"]) and all(e.complete for e in entries)
    _assert_same_batches(memory, first)
    memory = _load(data_dir, prepared=False)  # a fresh epoch 0 (iterating a train loader moves its epoch on)
    _forbid_hdf5(monkeypatch)
    second = _load(data_dir)
    assert second.data_info["movie_copies_made"] == 0
    _assert_same_batches(memory, second)
    assert second.data_info["n_repeats"] == memory.data_info["n_repeats"]
    assert second.data_info["source_files"] == memory.data_info["source_files"]
    assert second.data_info["sessions_kwargs"] == memory.data_info["sessions_kwargs"]
    assert second.data_info["val_image_indices"].keys() == memory.data_info["val_image_indices"].keys()
    for entry in entries:
        stored = open_entry(entry.path)["movie_train"]
        assert stored.dtype == np.dtype(dtype), "images are stored in their published dtype"


def test_compact_images_stay_compact_unless_float32_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = _sample(tmp_path, monkeypatch, "uint8")
    from openretina_goldin_2022.prepared import prepared_sessions

    options: dict[str, Any] = {
        "species": "mouse",
        "response_type": "binned",
        "stim_type": "naturalscene",
        "fr_normalization": 0.3,
        "normalize_stimuli": True,
        "sessions": None,
        "check_repeats": True,
    }
    movies, _ = prepared_sessions(data_dir, store_dtype="published", **options)
    wide, _ = prepared_sessions(data_dir, store_dtype="float32", **options)
    for session, movie in movies.items():
        assert isinstance(movie.train, CompactArray) and movie.train.dtype == np.uint8
        assert isinstance(movie.test_dict["test"], CompactArray)
        assert wide[session].train.dtype == np.float32
        assert np.array_equal(movie.train.decoded(), wide[session].train)
        assert np.array_equal(movie.test_dict["test"].decoded(), wide[session].test_dict["test"])
    assert _load(data_dir, store_dtype="published").data_info is not None
    with pytest.raises(ValueError, match="store_dtype"):
        _load(data_dir, store_dtype="float16")


def test_a_changed_option_is_a_new_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = _sample(tmp_path, monkeypatch)
    base = _load(data_dir)
    n_sessions = len(base["train"])
    _load(data_dir, fr_normalization=1.0)
    _load(data_dir, normalize_stimuli=False)
    assert len(list_entries("goldin_2022")) == 3 * n_sessions
    memory = _load(data_dir, normalize_stimuli=False, prepared=False)
    _forbid_hdf5(monkeypatch)
    _assert_same_batches(memory, _load(data_dir, normalize_stimuli=False))


def test_a_changed_session_file_rebuilds_its_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = _sample(tmp_path, monkeypatch)
    _load(data_dir)
    before = {e.session: e.key for e in list_entries("goldin_2022")}
    session = sorted(before)[0]
    path = data_dir / f"{session}.h5"
    with h5py.File(path, "r+") as h5:  # the same shapes, other counts
        h5["train/response/binned"][0, 0] += 7.0
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    reloaded = _load(data_dir)
    after = {e.session: e.key for e in list_entries("goldin_2022")}
    assert after.keys() == before.keys(), "the superseded entry is removed, not kept beside the new one"
    assert after[session] != before[session]
    assert all(after[s] == before[s] for s in before if s != session)
    _assert_same_batches(_load(data_dir, prepared=False), reloaded)


def test_opt_out_reads_into_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = _sample(tmp_path, monkeypatch)
    monkeypatch.setenv("OPENRETINA_NO_STORE", "1")
    loaders = _load(data_dir)
    assert list_entries("goldin_2022") == []
    assert _load(data_dir, prepared=True) and list_entries("goldin_2022"), "prepared=True wins over the env"
    assert len(loaders["train"]) >= 1
