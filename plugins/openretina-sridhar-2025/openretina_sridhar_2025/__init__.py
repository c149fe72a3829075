"""openretina-data plugin for Sridhar et al. 2025 (PLOS Comput Biol): marmoset ganglion cells on a MEA under
naturalistic fixation movies and spatiotemporal white noise.

This module holds only the hook implementation and lazy re-exports: listing datasets reads no file and imports
no torch. ``from openretina_sridhar_2025 import get_sridhar_dataloaders`` imports what it names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openretina_core import hookimpl
from openretina_core.registry import LazyFunction, lazy_exports

_LAZY = {
    "get_sridhar_dataloaders": ".dataloaders",
    "frame_overhead": ".chunks",
    "chunks_per_trial": ".chunks",
    "split_trials": ".splits",
    "read_fixations": ".fixations",
    "read_responses": ".responses",
    "render_frames": ".render",
    "Geometry": ".render",
    "write_sample": ".sample",
    "INFO": ".card",
    "wait_for_store_writes": ".background",
    "BackgroundWriteError": ".background",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


@hookimpl
def register_datasets(register: Callable[[Any], None]) -> None:
    from openretina_core.registry import DatasetSpec
    from openretina_sridhar_2025.card import INFO

    register(
        DatasetSpec(
            info=INFO,
            get_dataloaders=LazyFunction("openretina_sridhar_2025.dataloaders:registry_get_dataloaders"),
            write_sample=LazyFunction("openretina_sridhar_2025.sample:write_sample"),
            default_options={"stim_type": "natural_movie"},
        )
    )
