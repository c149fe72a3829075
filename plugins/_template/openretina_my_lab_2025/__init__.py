"""Hook implementations only: listing the installed datasets imports this module,
so it stays light; the loading code (numpy, torch) is imported when the hook runs."""

from __future__ import annotations

from typing import Any

import openretina_core


@openretina_core.hookimpl
def register_datasets(register: Any) -> None:
    from . import dataset
    from .constants import INFO

    register(
        openretina_core.DatasetSpec(
            info=INFO,
            get_dataloaders=dataset.get_dataloaders,
            write_sample=dataset.write_sample,
        )
    )
