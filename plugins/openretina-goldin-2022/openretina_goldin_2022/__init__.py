"""openretina-data plugin for Goldin et al. 2022 (Nat. Commun.): mouse and axolotl ganglion cells on a MEA,
spike counts to flashed natural images.

This module holds only the hook implementation and lazy re-exports: importing it to list datasets reads no
file and imports no h5py. ``from openretina_goldin_2022 import get_goldin_dataloaders`` loads the data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openretina_core import hookimpl
from openretina_core.registry import LazyFunction, lazy_exports

_LAZY = {
    "get_goldin_dataloaders": ".dataloaders",
    "load_all_stimuli": ".stimuli",
    "load_stimuli_for_session": ".stimuli",
    "load_all_responses": ".responses",
    "load_responses_for_session": ".responses",
    "load_test_repeats_for_session": ".responses",
    "write_sample": ".sample",
    "INFO": ".card",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


@hookimpl
def register_datasets(register: Callable[[Any], None]) -> None:
    from openretina_core.registry import DatasetSpec
    from openretina_goldin_2022.card import INFO
    from openretina_goldin_2022.constants import DEFAULT_LOADER_OPTIONS

    register(
        DatasetSpec(
            info=INFO,
            get_dataloaders=LazyFunction("openretina_goldin_2022.dataloaders:registry_get_dataloaders"),
            write_sample=LazyFunction("openretina_goldin_2022.sample:write_sample"),
            default_options=dict(DEFAULT_LOADER_OPTIONS),
        )
    )
