"""openretina-data plugin for the generic HDF5 lab format: ``stimuli/<name>.npy`` plus one ``<session>.h5``.

This module holds only the hook implementation and lazy re-exports: registering the format (what listing
datasets does) reads no file and imports neither numpy nor h5py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openretina_core import hookimpl
from openretina_core.registry import LazyFunction, lazy_exports

_LAZY = {
    "get_hdf5_dataloaders": ".dataloaders",
    "load_hdf5": ".reading",
    "load_stimuli": ".reading",
    "load_responses": ".reading",
    "scan_folder": ".layout",
    "write_sample": ".sample",
    "INFO": ".constants",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


@hookimpl
def register_datasets(register: Callable[[Any], None]) -> None:
    from openretina_core.registry import DatasetSpec
    from openretina_hdf5.constants import DEFAULT_LOADER_OPTIONS, INFO

    register(
        DatasetSpec(
            info=INFO,
            get_dataloaders=LazyFunction("openretina_hdf5.dataloaders:registry_get_dataloaders"),
            write_sample=LazyFunction("openretina_hdf5.sample:write_sample"),
            default_options=dict(DEFAULT_LOADER_OPTIONS),
        )
    )
