"""``prepare(name, ...)``: fill a dataset's prepared store once, before training jobs map it.

On a cluster, run it once per node (or let every rank call ``get_dataloaders``: the first preparer of an entry
holds its lock, the others wait and then map the same files, so a node's page cache holds one copy).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from openretina_core.store.layout import EntryUsage, list_entries

logger = logging.getLogger(__name__)

NO_STORE_ENV = "OPENRETINA_NO_STORE"


def store_enabled(option: bool | None = None) -> bool:
    """Whether a plugin uses the prepared store: its ``prepared=`` option when given, else on unless
    ``OPENRETINA_NO_STORE=1`` (then every dataset is read into memory as before)."""
    if option is not None:
        return bool(option)
    return os.environ.get(NO_STORE_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}


def prepare(
    name: str, *, data_dir: str | Path | None = None, download: bool = True, **options: Any
) -> list[EntryUsage]:
    """Prepare ``name`` with these options (downloading missing files unless ``download=False``); returns the
    dataset's complete prepared entries. A store that cannot be written (full disk, read-only) is an error here;
    ordinary loads fall back to memory with a warning. A dataset whose plugin does not use the store is loaded once and the
    list is empty (it is served from memory, as before)."""
    from openretina_core.data.registered import get_dataloaders
    from openretina_core.store.preparing import strict_preparation

    with strict_preparation():  # here a store that cannot be written is an error, not a fallback to memory
        get_dataloaders(name, data_dir=data_dir, download=download, **options)
    entries = [usage for usage in list_entries(name) if usage.complete]
    if not entries:
        logger.warning("dataset %r keeps no prepared entries (its plugin reads into memory)", name)
    return entries
