"""Sessions through the core's prepared store: the same batches as reading into memory, and a second load that
opens no HDF5 file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from openretina_maheswaranathan_2023.dataloaders import get_maheswaranathan_dataloaders
from openretina_maheswaranathan_2023.sample import write_sample

from openretina_core.store import list_entries


@pytest.fixture
def sample_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    return write_sample(tmp_path / "data", seed=3).data_dir


def _load(data_dir: Path, **options: Any) -> Any:
    return get_maheswaranathan_dataloaders(batch_size=4, download=False, data_dir=data_dir, **options)


def test_prepared_sessions_equal_the_in_memory_ones_and_reload_without_reading(
    sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = _load(sample_dir, prepared=False)
    assert list_entries("maheswaranathan_2023") == []
    first = _load(sample_dir)
    assert {e.session for e in list_entries("maheswaranathan_2023")} == set(first["train"])
    opened: list[str] = []
    real_file = h5py.File

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(path))
        return real_file(path, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", counting)
    second = _load(sample_dir)
    assert opened == [], "a prepared session is mapped: no HDF5 file is opened"
    assert second.data_info["movie_copies_made"] == 0
    for split in ("train", "validation", "test"):
        for session in memory[split]:
            for (x1, y1), (x2, y2) in zip(memory[split][session], second[split][session], strict=True):
                assert torch.equal(x1, x2) and torch.equal(y1, y2), (split, session)
    kwargs = second.data_info["sessions_kwargs"]
    assert kwargs == memory.data_info["sessions_kwargs"], "session metadata survives the store"
    assert np.isclose(second.data_info["stim_mean"], memory.data_info["stim_mean"])


def test_options_that_change_the_arrays_make_new_entries(sample_dir: Path) -> None:
    _load(sample_dir)
    _load(sample_dir, fr_normalization=2.0)
    sessions = [e.session for e in list_entries("maheswaranathan_2023")]
    assert len(sessions) == 2 * len(set(sessions))
