"""Karamanlis et al. 2024 (Nature): mouse and marmoset ganglion-cell spikes (MEA) under natural fixation movies.

This module holds only the hook implementation and lazy re-exports: listing datasets imports neither h5py nor
the loaders. ``from openretina_karamanlis_2024 import get_karamanlis_dataloaders`` imports what it names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openretina_core
from openretina_core.registry import LazyFunction, lazy_exports

_EXPORTS: dict[str, str] = {
    "get_karamanlis_dataloaders": "openretina_karamanlis_2024.dataloaders",
    "load_all_stimuli": "openretina_karamanlis_2024.stimuli",
    "load_all_responses": "openretina_karamanlis_2024.responses",
    "compose_fixation_movie": "openretina_karamanlis_2024.compose",
    "FixationComposer": "openretina_karamanlis_2024.compose",
    "write_sample": "openretina_karamanlis_2024.sample",
    "INFO": "openretina_karamanlis_2024.card",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


@openretina_core.hookimpl
def register_datasets(register: Callable[[Any], None]) -> None:
    from openretina_core.registry import DatasetSpec
    from openretina_karamanlis_2024.card import INFO

    register(
        DatasetSpec(
            info=INFO,
            get_dataloaders=LazyFunction("openretina_karamanlis_2024.dataloaders:spec_get_dataloaders"),
            write_sample=LazyFunction("openretina_karamanlis_2024.sample:write_sample"),
            default_options={"species": "mouse", "stim_type": "fixationmovie"},
        )
    )
