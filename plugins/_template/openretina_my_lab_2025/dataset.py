"""Locate the files, read them into the core's containers, build the loaders; and
write a synthetic sample.

``get_dataloaders`` and ``write_sample`` are what ``__init__.py`` registers. The
readers follow the layout declared in ``constants.py``: change both together, and
``write_sample`` with them, so that the shared contract (``tests/``) keeps checking
the whole path on synthetic files in your real layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from openretina_core import (
    DataLoaders,
    MissingFileError,
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    SyntheticSample,
    fetch_dataset,
    multiple_movies_dataloaders,
)
from openretina_core.data import make_lnp_model, simulate_responses

from .constants import INFO, RESPONSE_FILES, STIMULUS_FILES


def _sessions(root: Path) -> list[Path]:
    """The session folders under ``root``: those holding a training stimulus."""
    marker = STIMULUS_FILES["train"]
    found = []
    if root.is_dir():
        found = sorted(p for p in root.iterdir() if (p / marker).is_file())
    if not found:
        raise MissingFileError(
            root,
            f"{INFO.id}: no session folder with {marker} under {root}; pass "
            "data_dir= pointing at the folder that holds the session folders, or "
            "download=True to fetch the published files",
        )
    return found


def load_stimuli(root: Path) -> dict[str, MoviesTrainTestSplit]:
    """``{session: movies}``, each movie ``(C, T, H, W)`` float32."""
    return {
        p.name: MoviesTrainTestSplit(
            train=np.load(p / STIMULUS_FILES["train"]),
            test_dict=np.load(p / STIMULUS_FILES["test"]),
        )
        for p in _sessions(Path(root))
    }


def load_responses(root: Path) -> dict[str, ResponsesTrainTestSplit]:
    """``{session: responses}``, each ``(neurons, T)``, one bin per stimulus frame."""
    return {
        p.name: ResponsesTrainTestSplit(
            train=np.load(p / RESPONSE_FILES["train"]),
            test_dict=np.load(p / RESPONSE_FILES["test"]),
        )
        for p in _sessions(Path(root))
    }


def get_dataloaders(
    data_dir: str | Path | None = None,
    download: bool = False,
    batch_size: int = 32,
    **options: Any,
) -> DataLoaders:
    """Train, validation and test loaders for every session (the core's builder)."""
    root = fetch_dataset(INFO, data_dir=data_dir, download=download)
    if data_dir is None:
        # the cache holds the archive and, beside it, the folder it was unpacked into
        root = root / INFO.files[0].extracted_dir
    options.setdefault("clip_length", 100)
    options.setdefault("num_val_clips", 2)
    return multiple_movies_dataloaders(
        load_responses(root),
        load_stimuli(root),
        batch_size=batch_size,
        **options,
    )


def write_sample(root: Path, seed: int = 0) -> SyntheticSample:
    """Two small sessions in the layout above, with responses of a known LN model
    (whose filters are returned, to compare a spike-triggered average against)."""
    rng = np.random.default_rng(seed)
    filters = {}
    for i, name in enumerate(("session_1", "session_2")):
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        train = rng.standard_normal((1, 2000, 10, 10)).astype(np.float32)
        test = rng.standard_normal((1, 200, 10, 10)).astype(np.float32)
        model = make_lnp_model(3, 1, 10, 10, filter_length=5, seed=seed + i)
        np.save(folder / STIMULUS_FILES["train"], train)
        np.save(folder / STIMULUS_FILES["test"], test)
        responses_train = simulate_responses(model, train, seed=seed)
        responses_test = simulate_responses(model, test, seed=seed, poisson=False)
        np.save(folder / RESPONSE_FILES["train"], responses_train)
        np.save(folder / RESPONSE_FILES["test"], responses_test)
        filters[name] = model.filters
    return SyntheticSample(data_dir=Path(root), filters=filters)
