"""The movie and every kept field through the core's prepared store: the same batches as reading into memory,
and a second load that opens neither the response HDF5 nor the stimulus pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import pytest
import torch
from openretina_hoefling_2024 import stimuli as stimuli_module
from openretina_hoefling_2024.dataloaders import get_hoefling_dataloaders

from openretina_core.store import list_entries


def _load(data_dir: Path, **options: Any) -> Any:
    return get_hoefling_dataloaders(data_dir=data_dir, batch_size=4, **options)


def test_prepared_fields_equal_the_in_memory_ones_and_reload_without_reading(
    hoefling_sample: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    data_dir = Path(hoefling_sample.data_dir)
    memory = _load(data_dir, prepared=False)
    _load(data_dir)
    entries = {e.session: e for e in list_entries("hoefling_2024")}
    assert set(entries) == {"_fields", "_movie_18x16"}, "the kept fields are one bundled entry"
    assert set(entries["_fields"].sessions) == set(memory["train"])
    assert len(list(entries["_fields"].path.glob("*.npy"))) < 12, (
        "a handful of packed files, not ~8 per field"
    )
    opened: list[str] = []
    real_file = h5py.File

    def counting_h5(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(path))
        return real_file(path, *args, **kwargs)

    def no_pickle(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the stimulus pickle must not be read again")

    monkeypatch.setattr(h5py, "File", counting_h5)
    monkeypatch.setattr(stimuli_module, "load_pickle", no_pickle)
    second = _load(data_dir)
    assert opened == [], "prepared fields are mapped: the response file is not opened"
    assert second.data_info["movie_copies_made"] == 0
    assert set(second["train"]) == set(memory["train"])
    for split in ("train", "validation", "test"):
        for session in memory[split]:
            for (x1, y1), (x2, y2) in zip(memory[split][session], second[split][session], strict=True):
                assert torch.equal(x1, x2) and torch.equal(y1, y2), (split, session)
    assert second.data_info["eye"] == memory.data_info["eye"]


def test_filters_are_part_of_the_key(
    hoefling_sample: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    data_dir = Path(hoefling_sample.data_dir)
    everything = _load(data_dir, d_qi=None, chirp_qi=None, classifier_confidence=None, cell_types=None)
    default = _load(data_dir)
    assert len(everything.data_info["n_neurons_dict"]) >= len(default.data_info["n_neurons_dict"])
    assert sum(everything.data_info["n_neurons_dict"].values()) > sum(
        default.data_info["n_neurons_dict"].values()
    )
