"""Artificial stimulus generators for retina models, registered with openretina-core.

This module holds only the hook implementation and lazy re-exports: listing the generators imports no
generator module. ``from openretina_stimuli import generate_gratings`` imports the one it names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openretina_core
from openretina_core.registry import LazyFunction, lazy_exports
from openretina_stimuli.constants import GENERATORS

_EXPORTS: dict[str, str] = {
    "generate_gratings": "openretina_stimuli.gratings",
    "generate_noise_stimulus": "openretina_stimuli.noise",
    "generate_moving_bar": "openretina_stimuli.bars",
    "generate_moving_bar_protocol": "openretina_stimuli.bars",
    "generate_chirp": "openretina_stimuli.fullfield",
    "chirp_segments": "openretina_stimuli.fullfield",
    "generate_flashes": "openretina_stimuli.fullfield",
    "generate_colored_stimulus": "openretina_stimuli.fullfield",
    "colored_stimulus": "openretina_stimuli.fullfield",
    "make_stimulus_dataset": "openretina_stimuli.dataset",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


@openretina_core.hookimpl
def register_stimuli(register: Callable[[Any], None]) -> None:
    for name, (module, function, description, units) in GENERATORS.items():
        register(
            openretina_core.StimulusSpec(
                name=name,
                generate=LazyFunction(f"{module}:{function}"),
                description=description,
                units=dict(units),
            )
        )
