"""The hooks a plugin may implement. Each spec documents what it receives and what it must return or call.

A plugin implements a hook with ``@openretina_core.hookimpl`` on a module-level function of the same name;
the module is named by an entry point in the ``openretina`` group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import torch

    from openretina_core.registry.specs import DatasetSpec, StimulusSpec

PROJECT_NAME = "openretina"
ENTRY_POINT_GROUP = "openretina"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets by calling ``register(DatasetSpec(...))`` once per dataset.

    Receives the core's ``register`` callback; returns nothing. The core refuses a name that another
    distribution already registered (naming both) and records the calling plugin's distribution and version
    in the dataset's info. Keep this cheap: no file access and no heavy imports.
    """


@hookspec
def register_stimuli(register: Callable[[StimulusSpec], None]) -> None:
    """Register stimulus generators by calling ``register(StimulusSpec(...))`` once per generator.

    Receives the core's ``register`` callback; returns nothing. Duplicate names are refused like datasets.
    """


@hookspec(firstresult=True)
def choose_device(requested: str | torch.device | None) -> torch.device | None:
    """Decide which device batches go to. First result wins.

    Receives the ``device=`` argument the user passed to ``get_dataloaders`` (``None``, ``"auto"``, ``"cpu"``,
    ``"cuda:1"``, ...). Returns a ``torch.device``, or ``None`` to defer to the next implementation. The
    built-in default (run last) returns the requested device, or CUDA when available and the CPU otherwise.
    """


@hookspec(firstresult=True)
def move_batch(batch: Any, device: torch.device) -> Any | None:
    """Move one batch (a tensor or a tuple/namedtuple/dict of them) to ``device``. First result wins.

    Returns the moved batch, or ``None`` to defer. The built-in default pins host memory and copies with
    ``non_blocking=True`` when the target is CUDA, and is a no-op for tensors already on ``device``.
    """


@hookspec(firstresult=True)
def keep_on_device(nbytes: int, device: torch.device) -> bool | None:
    """Decide whether a dataset of ``nbytes`` (stimulus plus responses, float32) is held on ``device``.

    When ``True``, the arrays are moved once and batches are assembled on the device (no per-batch host to
    device copy). Returns ``None`` to defer. The built-in default says yes on CUDA when the data take at most
    half of the free device memory, and no on the CPU (where it would change nothing).
    """
