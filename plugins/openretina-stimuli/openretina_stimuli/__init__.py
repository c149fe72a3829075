"""Artificial stimulus generators for retina models, registered with openretina-core.

This module holds only the hook implementation and lazy re-exports: listing the generators imports no
generator module. ``from openretina_stimuli import generate_gratings`` imports the one it names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import openretina_core
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


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'openretina_stimuli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


class _LazyGenerator:
    """Calls ``module.function`` on first use, so registering the generators imports none of them."""

    def __init__(self, module: str, function: str) -> None:
        self.module = module
        self.function = function

    def resolve(self) -> Callable[..., Any]:
        return getattr(importlib.import_module(self.module), self.function)

    def __call__(self, *args: Any, **params: Any) -> Any:
        return self.resolve()(*args, **params)

    def __repr__(self) -> str:
        return f"<stimulus generator {self.module}.{self.function}>"


@openretina_core.hookimpl
def register_stimuli(register: Callable[[Any], None]) -> None:
    for name, (module, function, description, units) in GENERATORS.items():
        register(
            openretina_core.StimulusSpec(
                name=name,
                generate=_LazyGenerator(module, function),
                description=description,
                units=dict(units),
            )
        )
