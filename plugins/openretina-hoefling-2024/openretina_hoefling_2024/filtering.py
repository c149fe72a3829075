"""Quality filtering of ROIs, with the thresholds of the published configuration as defaults.

A ROI is kept when every enabled criterion holds: its cell type is in ``cell_types``; its quality indices
pass (``d_qi >= d_qi`` OR ``chirp_qi >= chirp_qi`` with ``qi_logic="or"``; a threshold of ``None`` disables
that index); its classifier confidence ``max(group_confidences)`` reaches ``classifier_confidence``. With
``filter_counts``, a field needs more than ``count_threshold`` kept ROIs. Fields left empty are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from attrs import define, field

from openretina_core import BadDataError
from openretina_hoefling_2024 import constants as c


def _types(value: Iterable[int] | int | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return (int(value),)
    return tuple(int(v) for v in value)


@define(frozen=True)
class QualityFilter:
    """The filtering options (every threshold of the published configuration, each overridable)."""

    cell_types: tuple[int, ...] | None = field(default=c.DEFAULT_CELL_TYPES, converter=_types)
    d_qi: float | None = c.DEFAULT_D_QI
    chirp_qi: float | None = c.DEFAULT_CHIRP_QI
    qi_logic: str = c.DEFAULT_QI_LOGIC
    classifier_confidence: float | None = c.DEFAULT_CLASSIFIER_CONFIDENCE
    filter_counts: bool = c.DEFAULT_FILTER_COUNTS
    count_threshold: int = c.DEFAULT_COUNT_THRESHOLD

    def __attrs_post_init__(self) -> None:
        if self.qi_logic not in ("and", "or"):
            raise BadDataError(f"qi_logic must be 'and' or 'or', got {self.qi_logic!r}")

    def needed_keys(self) -> tuple[str, ...]:
        """Per-ROI keys the filter reads (so only those are loaded)."""
        keys = ["group_assignment"] if self.cell_types is not None else []
        keys += [name for name in ("d_qi", "chirp_qi") if getattr(self, name) is not None]
        if self.classifier_confidence is not None and self.classifier_confidence > 0:
            keys.append("group_confidences")
        return tuple(keys)

    def roi_mask(self, meta: Mapping[str, Any], n_rois: int) -> np.ndarray:
        """Boolean ``(n_rois,)``: which ROIs pass every enabled per-ROI criterion."""
        keep = np.ones(n_rois, dtype=bool)
        if self.cell_types is not None:
            keep &= np.isin(np.asarray(meta["group_assignment"]).reshape(-1), self.cell_types)
        qi_masks = [
            np.asarray(meta[name], dtype=np.float64).reshape(-1) >= threshold
            for name, threshold in (("d_qi", self.d_qi), ("chirp_qi", self.chirp_qi))
            if threshold is not None
        ]
        if qi_masks:
            combine = np.logical_or if self.qi_logic == "or" else np.logical_and
            keep &= combine.reduce(qi_masks)
        if self.classifier_confidence is not None and self.classifier_confidence > 0:
            confidence = np.asarray(meta["group_confidences"], dtype=np.float64)
            keep &= confidence.reshape(n_rois, -1).max(axis=1) >= self.classifier_confidence
        return keep

    def field_passes(self, n_kept: int) -> bool:
        """Whether a field with ``n_kept`` ROIs left is kept (never when empty)."""
        if n_kept == 0:
            return False
        return not self.filter_counts or n_kept > self.count_threshold
