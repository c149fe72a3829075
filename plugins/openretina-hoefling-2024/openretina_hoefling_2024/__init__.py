"""openretina plugin for Höfling et al. 2024 (eLife): mouse RGC calcium imaging with natural movies.

This module holds only the hook implementation and lazy re-exports: listing datasets imports neither h5py
nor the loading code. ``from openretina_hoefling_2024 import natmov_dataloaders_v2`` imports what it names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import openretina_core

_EXPORTS: dict[str, str] = {
    "INFO": "openretina_hoefling_2024.card",
    "natmov_dataloaders_v2": "openretina_hoefling_2024.dataloaders",
    "get_hoefling_dataloaders": "openretina_hoefling_2024.dataloaders",
    "get_all_responses": "openretina_hoefling_2024.responses",
    "load_responses": "openretina_hoefling_2024.responses",
    "get_all_movies": "openretina_hoefling_2024.stimuli",
    "load_movies": "openretina_hoefling_2024.stimuli",
    "QualityFilter": "openretina_hoefling_2024.filtering",
    "load_pickle": "openretina_hoefling_2024.unpickle",
    "UnsafePickleError": "openretina_hoefling_2024.unpickle",
    "write_sample": "openretina_hoefling_2024.sample",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'openretina_hoefling_2024' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


def _get_dataloaders(
    data_dir: Any = None, download: bool = False, batch_size: int = 64, **options: Any
) -> Any:
    """Registry entry: see :func:`openretina_hoefling_2024.dataloaders.get_hoefling_dataloaders`."""
    from openretina_hoefling_2024.dataloaders import get_hoefling_dataloaders

    return get_hoefling_dataloaders(data_dir=data_dir, download=download, batch_size=batch_size, **options)


def _write_sample(root: Any, seed: int = 0, **options: Any) -> Any:
    """Registry entry: see :func:`openretina_hoefling_2024.sample.write_sample`."""
    from openretina_hoefling_2024.sample import write_sample

    return write_sample(root, seed=seed, **options)


@openretina_core.hookimpl
def register_datasets(register: Callable[[Any], None]) -> None:
    from openretina_hoefling_2024.card import INFO

    register(
        openretina_core.DatasetSpec(info=INFO, get_dataloaders=_get_dataloaders, write_sample=_write_sample)
    )
