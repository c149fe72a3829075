"""Default device policy: CUDA when available, else CPU; pinned memory and non-blocking copies on CUDA.

torch is imported inside the hooks: the registry loads this plugin to list datasets, which needs no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openretina_core.registry.hookspecs import hookimpl

if TYPE_CHECKING:
    import torch

_KEEP_FRACTION_OF_FREE = 0.5


@hookimpl(trylast=True)
def choose_device(requested: str | torch.device | None) -> torch.device | None:
    import torch

    if requested is None or (isinstance(requested, str) and requested == "auto"):
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} was requested but CUDA is not available on this machine")
    return device


def _move(obj: Any, device: torch.device, to_cuda: bool) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        if obj.device == device:
            return obj
        if to_cuda and obj.device.type == "cpu":
            if not obj.is_pinned():
                obj = obj.pin_memory()
            return obj.to(device, non_blocking=True)
        return obj.to(device)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple, e.g. DataPoint
        return type(obj)(*(_move(x, device, to_cuda) for x in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_move(x, device, to_cuda) for x in obj)
    if isinstance(obj, dict):
        return {k: _move(v, device, to_cuda) for k, v in obj.items()}
    return obj


@hookimpl(trylast=True)
def move_batch(batch: Any, device: torch.device) -> Any:
    return _move(batch, device, device.type == "cuda")


@hookimpl(trylast=True)
def keep_on_device(nbytes: int, device: torch.device) -> bool | None:
    if device.type != "cuda":
        return False
    import torch

    free, _total = torch.cuda.mem_get_info(device)
    return nbytes <= _KEEP_FRACTION_OF_FREE * free
