"""Checks of the dataset options every builder shares, under the name the user typed.

A plugin that calls its option ``val_image_indices`` (Goldin) or ``validation_clip_indices`` (Höfling) passes
that name, so a bad value is reported as the user wrote it, not as the core builder's ``val_clip_indices``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from openretina_core.registry.errors import BadArgumentError, check_int


def check_index_list(argument: str, value: Any) -> None:
    """``value``: None, a sequence of non-negative integers, or a mapping from session name to one."""
    if value is None:
        return
    groups = value.values() if isinstance(value, Mapping) else [value]
    expected = "a list of non-negative integers, or a mapping from session name to one"
    for group in groups:
        if isinstance(group, (str, bytes)) or not isinstance(group, Sequence | np.ndarray):
            raise BadArgumentError(argument, expected, value)
        for index in list(group):
            check_int(f"{argument}[...]", index.item() if isinstance(index, np.generic) else index, 0)
