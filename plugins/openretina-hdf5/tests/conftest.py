"""Folders in the generic layout built from a description, with stimuli that encode their frame index.

``coded_movie(stim, n_frames)`` is a ``(C, T, H, W)`` movie whose every pixel of frame ``t`` is
``code(stim, t) = 1000 * stim + t``; ``coded_responses`` gives neuron ``n`` the value ``code + 0.25 n``. Both are
exact in float32, so a batch shows which stored frame each position came from and that targets are aligned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np
import pytest

C, H, W = 2, 4, 3


def code(stim: int, frames: np.ndarray | int) -> np.ndarray:
    return 1000 * stim + np.asarray(frames)


def coded_movie(stim: int, n_frames: int, channels: int = C, dtype: Any = np.float32) -> np.ndarray:
    values = code(stim, np.arange(n_frames)).astype(dtype)
    return np.broadcast_to(values[None, :, None, None], (channels, n_frames, H, W)).copy()


def coded_responses(stim: int, n_frames: int, n_neurons: int) -> np.ndarray:
    base = code(stim, np.arange(n_frames)).astype(np.float64)
    return base[None, :] + 0.25 * np.arange(n_neurons)[:, None]


def write_session(path: Path, content: Mapping[str, Any]) -> Path:
    """``content``: ``{"responses": {name: (N, T)}, "stimuli": {name: (C, T, H, W)}, "info": {key: value}}``;
    any other key is written as a dataset under that name."""
    with h5py.File(path, "w") as h5:
        for name, array in content.get("responses", {}).items():
            h5.create_dataset(f"responses_{name}", data=array)
        for name, array in content.get("stimuli", {}).items():
            h5.create_dataset(f"stimulus_{name}", data=array)
        for key, value in content.get("info", {}).items():
            h5.create_dataset(f"session_info/{key}", data=value)
        for key, value in content.items():
            if key not in {"responses", "stimuli", "info"}:
                h5.create_dataset(key, data=value)
    return path


@pytest.fixture
def coded() -> SimpleNamespace:
    """The helpers above, for tests (a conftest cannot be imported under --import-mode=importlib)."""
    return SimpleNamespace(
        code=code,
        movie=coded_movie,
        responses=coded_responses,
        write_session=write_session,
        shape=(C, H, W),
    )


@pytest.fixture
def write_folder(tmp_path: Path) -> Callable[..., Path]:
    """``write_folder(stimuli={name: array}, sessions={file name: content})`` -> the folder."""

    def write(
        stimuli: Mapping[str, np.ndarray], sessions: Mapping[str, Mapping[str, Any]], name: str = "data"
    ) -> Path:
        root = tmp_path / name
        (root / "stimuli").mkdir(parents=True, exist_ok=True)
        for stim_name, array in stimuli.items():
            np.save(root / "stimuli" / f"{stim_name}.npy", array)
        for file_name, content in sessions.items():
            write_session(root / file_name, content)
        return root

    return write


@pytest.fixture
def standard_folder(write_folder: Callable[..., Path]) -> Path:
    """Shared stimuli a (1) .. d (4) and test t (9); three sessions:

    * ``s1.h5``: a, b, c, t (3 neurons);
    * ``s2.hdf5``: the same stimuli, but its own ``stimulus_b`` (codes of stimulus 7), 2 neurons;
    * ``s3.h5``: a, d and ``own`` (codes of 5, only in this file), no t; 4 neurons.
    """
    lengths = {"a": 300, "b": 200, "c": 250, "d": 150, "t": 120}
    codes = {"a": 1, "b": 2, "c": 3, "d": 4, "t": 9}
    stimuli = {n: coded_movie(codes[n], lengths[n]) for n in lengths}

    def responses(
        names: list[str], n: int, override: Mapping[str, int] | None = None
    ) -> dict[str, np.ndarray]:
        out = {}
        for name in names:
            stim = (override or {}).get(name, codes.get(name, 0))
            out[name] = coded_responses(stim, lengths.get(name, 100), n)
        return out

    return write_folder(
        stimuli,
        {
            "s1.h5": {
                "responses": responses(["c", "a", "t", "b"], 3),
                "info": {"celltypes": np.array([1, 2, 3]), "eye": "left"},
            },
            "s2.hdf5": {
                "responses": responses(["a", "b", "c", "t"], 2, {"b": 7}),
                "stimuli": {"b": coded_movie(7, 200)},
            },
            "s3.h5": {
                "responses": {**responses(["d", "a"], 4), "own": coded_responses(5, 100, 4)},
                "stimuli": {"own": coded_movie(5, 100)},
                "info": {"roi_ids": np.arange(4)},
            },
        },
    )
