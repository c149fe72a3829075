"""openretina-data plugin for Maheswaranathan et al. 2023 (Neuron): salamander ganglion cells on a MEA.

This module holds only the hook implementation and lazy re-exports: importing it to list datasets reads no
file and imports no h5py. ``from openretina_maheswaranathan_2023 import get_maheswaranathan_dataloaders``
works as the openretina documentation shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openretina_core import hookimpl
from openretina_core.registry import LazyFunction, lazy_exports

_LAZY = {
    "get_maheswaranathan_dataloaders": ".dataloaders",
    "load_all_stimuli": ".stimuli",
    "load_stimuli_for_session": ".stimuli",
    "load_all_responses": ".responses",
    "load_responses_for_session": ".responses",
    "write_sample": ".sample",
    "INFO": ".constants",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


@hookimpl
def register_datasets(register: Callable[[Any], None]) -> None:
    from openretina_core.registry import DatasetSpec
    from openretina_maheswaranathan_2023.constants import DEFAULT_LOADER_OPTIONS, INFO

    register(
        DatasetSpec(
            info=INFO,
            get_dataloaders=LazyFunction(
                "openretina_maheswaranathan_2023.dataloaders:registry_get_dataloaders"
            ),
            write_sample=LazyFunction("openretina_maheswaranathan_2023.sample:write_sample"),
            default_options=dict(DEFAULT_LOADER_OPTIONS),
        )
    )
