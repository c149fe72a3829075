"""Lazy re-exports for plugin packages: a plugin's ``__init__`` stays light (listing datasets imports no h5py
and no loading code), yet ``from openretina_<id> import get_..._dataloaders`` works.

    __getattr__, __dir__ = lazy_exports(__name__, {"write_sample": ".sample", "INFO": ".constants"})
    load = LazyFunction("openretina_my_lab.dataset:get_dataloaders")
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` that import ``exports[name]`` on first access.

    Module paths starting with ``.`` are relative to ``package``.
    """

    def module_getattr(name: str) -> Any:
        if name in exports:
            module = exports[name]
            return getattr(importlib.import_module(module, package if module.startswith(".") else None), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def module_dir() -> list[str]:
        module = importlib.import_module(package)
        return sorted({*vars(module), *exports})

    return module_getattr, module_dir


class LazyFunction:
    """A callable named ``"package.module:function"`` that imports its module on first call."""

    def __init__(self, target: str) -> None:
        module, _, function = target.partition(":")
        if not module or not function:
            raise ValueError(f"expected 'package.module:function', got {target!r}")
        self.module = module
        self.function = function

    def resolve(self) -> Callable[..., Any]:
        return getattr(importlib.import_module(self.module), self.function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<lazy {self.module}:{self.function}>"
