"""Locate files, read them into containers, build the loaders; and write a synthetic sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from openretina_core import (
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    SyntheticSample,
    multiple_movies_dataloaders,
)
from openretina_core.data import make_lnp_model, simulate_responses
from openretina_core.files import fetch_dataset
from openretina_my_lab_2025.constants import INFO


def _sessions(root: Path) -> list[Path]:
    sessions = (
        sorted(p for p in root.iterdir() if (p / "stimulus_train.npy").exists()) if root.is_dir() else []
    )
    if not sessions:
        raise FileNotFoundError(f"{INFO.id}: no session folders with stimulus_train.npy under {root}")
    return sessions


def load_stimuli(root: Path) -> dict[str, MoviesTrainTestSplit]:
    return {
        p.name: MoviesTrainTestSplit(
            train=np.load(p / "stimulus_train.npy"), test_dict=np.load(p / "stimulus_test.npy")
        )
        for p in _sessions(Path(root))
    }


def load_responses(root: Path) -> dict[str, ResponsesTrainTestSplit]:
    return {
        p.name: ResponsesTrainTestSplit(
            train=np.load(p / "responses_train.npy"), test_dict=np.load(p / "responses_test.npy")
        )
        for p in _sessions(Path(root))
    }


def get_dataloaders(
    data_dir: Any = None, download: bool = False, batch_size: int = 32, **options: Any
) -> Any:
    root = fetch_dataset(INFO, data_dir=data_dir, download=download)
    if data_dir is None:
        root = root / INFO.files[0].extracted_dir
    options.setdefault("clip_length", 100)
    options.setdefault("num_val_clips", 2)
    return multiple_movies_dataloaders(
        load_responses(root), load_stimuli(root), batch_size=batch_size, **options
    )


def write_sample(root: Path, seed: int = 0) -> SyntheticSample:
    rng = np.random.default_rng(seed)
    filters = {}
    for i, name in enumerate(("session_1", "session_2")):
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        train = rng.standard_normal((1, 2000, 10, 10)).astype(np.float32)
        test = rng.standard_normal((1, 200, 10, 10)).astype(np.float32)
        model = make_lnp_model(3, 1, 10, 10, filter_length=5, seed=seed + i)
        np.save(folder / "stimulus_train.npy", train)
        np.save(folder / "stimulus_test.npy", test)
        np.save(folder / "responses_train.npy", simulate_responses(model, train, seed=seed))
        np.save(folder / "responses_test.npy", simulate_responses(model, test, seed=seed, poisson=False))
        filters[name] = model.filters
    return SyntheticSample(data_dir=Path(root), filters=filters)
