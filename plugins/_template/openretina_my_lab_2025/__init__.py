"""Hook implementations only; the loading code is imported when a loader is called."""

from __future__ import annotations

from typing import Any

import openretina_core


@openretina_core.hookimpl
def register_datasets(register: Any) -> None:
    from openretina_my_lab_2025 import dataset
    from openretina_my_lab_2025.constants import INFO

    register(
        openretina_core.DatasetSpec(
            info=INFO, get_dataloaders=dataset.get_dataloaders, write_sample=dataset.write_sample
        )
    )
