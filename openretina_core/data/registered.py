"""The data path's front door: loaders for any registered dataset (or a user's ``BaseDataLoader``) by one call."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from openretina_core.data.loaders import DataLoaders
from openretina_core.registry.errors import UnknownOptionError, check_int, option_names
from openretina_core.registry.tables import get_dataset_spec

_UNEXPECTED = re.compile(r"unexpected keyword argument '([^']+)'")


def get_dataloaders(
    name: Any,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    keep_on_device: bool | None = None,
    **dataset_options: Any,
) -> DataLoaders:
    """``{"train": {session: loader}, "validation": {...}, <test name>: {...}}`` for a dataset, as
    :class:`~openretina_core.data.loaders.DataLoaders` (a typed dict with ``data_info``) of loaders yielding
    :class:`~openretina_core.data.movie_dataset.DataPoint` batches.

    ``name`` is a registry name (see ``list_datasets()``) or a :class:`~openretina_core.BaseDataLoader`.
    ``data_dir`` is the dataset's root as published (archives extracted); without it the cache is used and
    ``download=True`` fetches missing files. ``device=None`` keeps batches on the CPU where they are built;
    ``"auto"`` picks CUDA when available; any device name moves every batch there (through the device hooks).
    Other keyword arguments are the dataset's own options (e.g. ``species=``, ``stim_type=``).
    """
    from openretina_core.data.base_dataloader import BaseDataLoader
    from openretina_core.data.device import to_device

    if isinstance(name, BaseDataLoader):
        if data_dir is not None or download:
            raise TypeError("data_dir/download apply to registry names, not to a BaseDataLoader instance")
        loaders = name.get_dataloaders(batch_size=batch_size, **dataset_options)
    elif isinstance(name, str):
        spec = get_dataset_spec(name)
        check_int("batch_size", batch_size, minimum=1)
        options = {**spec.default_options, **dataset_options}
        try:
            loaders = spec.get_dataloaders(
                data_dir=data_dir, download=download, batch_size=batch_size, **options
            )
        except TypeError as exc:
            unknown = _unknown_option(exc, dataset_options)
            if unknown is None:
                raise
            raise UnknownOptionError(name, unknown, option_names(spec.get_dataloaders)) from exc
    else:
        raise TypeError(f"name must be a dataset name or a BaseDataLoader, got {type(name).__name__}")
    if not isinstance(loaders, DataLoaders):  # a plugin that returns a plain dict
        loaders = DataLoaders(loaders, data_info=dict(getattr(loaders, "data_info", {})))
    if device is None:
        return loaders
    return to_device(loaders, device, keep_on_device=keep_on_device)


def _unknown_option(exc: TypeError, given: dict[str, Any]) -> str | None:
    """The user's option a loader refused as an unexpected keyword (however deep it was passed on), if any."""
    found = _UNEXPECTED.search(str(exc))
    return found.group(1) if found and found.group(1) in given else None
