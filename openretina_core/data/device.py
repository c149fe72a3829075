"""The device hook's public face: pick a device and deliver every loader's batches there.

The decisions are hooks (``choose_device``, ``move_batch``, ``keep_on_device``) with built-in defaults in
``default_plugins/device.py``; any plugin can override them. Dataset plugins do nothing: ``get_dataloaders``
wraps whatever loaders they return. A dataset whose movie is kept in its published dtype sends its batches
compact and they are decoded to float32 after the transfer, on the device (the bus carries the narrow bytes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader

from openretina_core.registry.manager import get_plugin_manager

if TYPE_CHECKING:
    from openretina_core.data.loaders import DataLoaders


def resolve_device(requested: str | torch.device | None = None) -> torch.device:
    """The device the hooks choose for ``requested`` (``None``/``"auto"`` = CUDA if available, else CPU)."""
    device = get_plugin_manager().hook.choose_device(requested=requested)
    if device is None:
        raise RuntimeError("no plugin chose a device (the built-in default plugin is missing)")
    return torch.device(device)


def move_batch(batch: Any, device: torch.device) -> Any:
    """Move one batch to ``device`` through the ``move_batch`` hook."""
    moved = get_plugin_manager().hook.move_batch(batch=batch, device=device)
    return batch if moved is None else moved


def moves_nothing(device: torch.device, *tensors: Any) -> bool:
    """Whether ``move_batch`` to ``device`` would hand back batches made from ``tensors`` as they are: the
    device is the CPU, the tensors are there, and no plugin overrides the built-in ``move_batch`` (which then
    returns the same tensors). Asked once per pass, so a batch skips the hook call (several microseconds, as
    much as a one-image batch's own bookkeeping)."""
    if device.type != "cpu" or not all(isinstance(t, torch.Tensor) and t.is_cpu for t in tensors):
        return False
    from openretina_core.registry.default_plugins import device as default_device

    impls = get_plugin_manager().hook.move_batch.get_hookimpls()
    return len(impls) == 1 and impls[0].function is default_device.move_batch


class DeviceDataLoader:
    """Wraps a DataLoader so each batch arrives on ``device``; everything else is delegated to the loader.

    ``len()``, ``.dataset``, ``.sampler``, ``.batch_size`` behave as on the wrapped loader, so cyclers and
    training loops treat it like any loader. ``decode_after_transfer`` (None: when the device is CUDA and the
    dataset's compact movie is in host memory) makes the dataset hand out compact batches, decoded here after
    the transfer; its loader's own batches are then compact too.
    """

    def __init__(
        self, loader: DataLoader, device: torch.device, decode_after_transfer: bool | None = None
    ) -> None:
        self.loader = loader
        self.device = torch.device(device)
        dataset: Any = getattr(loader, "dataset", None)
        compact = getattr(dataset, "movie_map", None) is not None
        if decode_after_transfer is None:
            movie = getattr(dataset, "movie", None)
            on_host = isinstance(movie, torch.Tensor) and movie.device.type == "cpu"
            decode_after_transfer = self.device.type == "cuda" and on_host
        self._decode = dataset.decode_inputs if compact and decode_after_transfer else None
        if self._decode is not None:
            dataset.decode_after_transfer = True

    def __iter__(self) -> Iterator[Any]:
        decode = self._decode
        for batch in self.loader:
            moved = move_batch(batch, self.device)
            if decode is not None and hasattr(moved, "_replace"):  # a DataPoint: decode its inputs here
                moved = moved._replace(inputs=decode(moved.inputs))
            yield moved

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:
        if name == "loader":  # not yet set (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __repr__(self) -> str:
        return f"DeviceDataLoader({self.loader!r}, device={self.device})"


def dataset_nbytes(loaders: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes of every distinct stored tensor behind the loaders (shared movies counted once)."""
    seen: dict[int, int] = {}
    for split in loaders.values():
        for loader in split.values():
            dataset = getattr(loader, "dataset", None)
            for name in ("movie", "responses"):
                tensor = getattr(dataset, name, None)
                if isinstance(tensor, torch.Tensor):
                    seen[tensor.data_ptr()] = tensor.numel() * tensor.element_size()
    return sum(seen.values())


def place_on_device(loaders: Mapping[str, Mapping[str, Any]], device: torch.device) -> None:
    """Move every dataset's stored tensors to ``device`` once (shared tensors moved once, kept shared)."""
    moved: dict[int, torch.Tensor] = {}
    for split in loaders.values():
        for loader in split.values():
            dataset = getattr(loader, "dataset", None)
            if dataset is None or not hasattr(dataset, "to"):
                continue
            movie = getattr(dataset, "movie", None)
            if isinstance(movie, torch.Tensor):
                key = movie.data_ptr()
                if key not in moved:
                    moved[key] = movie.to(device)
                dataset.to(device, movie=moved[key])
            else:
                dataset.to(device)


def to_device(
    loaders: Mapping[str, Mapping[str, Any]],
    device: str | torch.device | None = None,
    keep_on_device: bool | None = None,
) -> DataLoaders:
    """Return the same nested dict with every loader delivering batches on the chosen device.

    With ``keep_on_device`` (``None`` asks the ``keep_on_device`` hook), the data are moved once and batches
    are assembled on the device.
    """
    target = resolve_device(device)
    if keep_on_device is None:
        keep_on_device = bool(
            get_plugin_manager().hook.keep_on_device(nbytes=dataset_nbytes(loaders), device=target)
        )
    if keep_on_device and target.type != "cpu":
        place_on_device(loaders, target)
    wrapped = {
        split: {s: DeviceDataLoader(dl, target) for s, dl in group.items()}
        for split, group in loaders.items()
    }
    data_info = dict(getattr(loaders, "data_info", {}))
    data_info["device"] = str(target)
    data_info["kept_on_device"] = bool(keep_on_device and target.type != "cpu")
    from openretina_core.data.loaders import DataLoaders

    return DataLoaders(wrapped, data_info=data_info)
