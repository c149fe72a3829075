"""openretina plugin for Höfling et al. 2024 (eLife): mouse RGC calcium imaging with natural movies.

This module holds only the hook implementation and lazy re-exports: listing datasets imports neither h5py
nor the loading code. ``from openretina_hoefling_2024 import natmov_dataloaders_v2`` imports what it names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openretina_core
from openretina_core.registry import LazyFunction, lazy_exports

_EXPORTS: dict[str, str] = {
    "INFO": "openretina_hoefling_2024.card",
    "natmov_dataloaders_v2": "openretina_hoefling_2024.dataloaders",
    "get_hoefling_dataloaders": "openretina_hoefling_2024.dataloaders",
    "get_all_responses": "openretina_hoefling_2024.responses",
    "load_responses": "openretina_hoefling_2024.responses",
    "get_all_movies": "openretina_hoefling_2024.stimuli",
    "load_movies": "openretina_hoefling_2024.stimuli",
    "QualityFilter": "openretina_hoefling_2024.filtering",
    "load_pickle": "openretina_core.data",
    "UnsafePickleError": "openretina_core.data",
    "write_sample": "openretina_hoefling_2024.sample",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


@openretina_core.hookimpl
def register_datasets(register: Callable[[Any], None]) -> None:
    from openretina_hoefling_2024.card import INFO

    register(
        openretina_core.DatasetSpec(
            info=INFO,
            get_dataloaders=LazyFunction("openretina_hoefling_2024.dataloaders:get_hoefling_dataloaders"),
            write_sample=LazyFunction("openretina_hoefling_2024.sample:write_sample"),
        )
    )
