"""openretina-data plugin for Maheswaranathan et al. 2023 (Neuron): salamander ganglion cells on a MEA.

This module holds only the hook implementation and lazy re-exports: importing it to list datasets reads no
file and imports no h5py. ``from openretina_maheswaranathan_2023 import get_maheswaranathan_dataloaders``
works as the openretina documentation shows.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from openretina_core import hookimpl

_LAZY = {
    "get_maheswaranathan_dataloaders": "dataloaders",
    "load_all_stimuli": "stimuli",
    "load_stimuli_for_session": "stimuli",
    "load_all_responses": "responses",
    "load_responses_for_session": "responses",
    "write_sample": "sample",
    "INFO": "constants",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _get_dataloaders(**kwargs: Any) -> Any:
    from openretina_maheswaranathan_2023.dataloaders import registry_get_dataloaders

    return registry_get_dataloaders(**kwargs)


def _write_sample(root: Any, seed: int = 0, **kwargs: Any) -> Any:
    from openretina_maheswaranathan_2023.sample import write_sample

    return write_sample(root, seed=seed, **kwargs)


@hookimpl
def register_datasets(register: Callable[[Any], None]) -> None:
    from openretina_core.info import DatasetSpec
    from openretina_maheswaranathan_2023.constants import DEFAULT_LOADER_OPTIONS, INFO

    register(
        DatasetSpec(
            info=INFO,
            get_dataloaders=_get_dataloaders,
            write_sample=_write_sample,
            default_options=dict(DEFAULT_LOADER_OPTIONS),
        )
    )
