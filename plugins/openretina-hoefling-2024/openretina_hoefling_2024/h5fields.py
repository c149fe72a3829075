"""Lazy access to one field (session) of the response HDF5: read a key only when it is asked for.

A value is looked up first as a dataset of the group, then as a group attribute (the reference loader
merged attributes into the same dictionary). Per-ROI arrays are checked and masked along the ROI axis the
format names (:data:`constants.ROI_AXIS`), never by guessing which axis has a matching size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from openretina_core import BadDataError
from openretina_core.data import MissingKeyError, check_finite, check_real_dtype
from openretina_hoefling_2024 import constants as c

logger = logging.getLogger(__name__)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise BadDataError(f"expected one string, received an array of shape {value.shape}")
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode("utf-8")
    return str(value).strip()


class FieldReader:
    """Reads the keys of one field group on demand (``group`` is an open ``h5py.Group``)."""

    def __init__(self, group: Any, path: Path, session: str) -> None:
        self.group = group
        self.path = path
        self.session = session

    # -- generic access ---------------------------------------------------------------------------------------
    def has(self, key: str) -> bool:
        return key in self.group or key in self.group.attrs

    def get(self, key: str) -> Any | None:
        """The dataset's contents or the attribute's value; ``None`` when the field has neither."""
        if key in self.group:
            return self.group[key][()]
        if key in self.group.attrs:
            return self.group.attrs[key]
        return None

    def require(self, key: str, purpose: str) -> Any:
        value = self.get(key)
        if value is None:
            present = sorted(self.group)
            raise MissingKeyError(
                self.path,
                key,
                f"session {self.session!r} has no {key!r} (needed for {purpose}); "
                f"datasets present: {present[:30]}{' ...' if len(present) > 30 else ''}",
            )
        return value

    def numeric(self, key: str, value: Any) -> np.ndarray:
        """``value`` as an array of real numbers; strings, objects and complex values name the key."""
        array = np.asarray(value)
        check_real_dtype(array.dtype, self.path, f"{self.session}/{key}")
        return array

    def _roi_array(self, key: str, kind: str, n_rois: int, purpose: str) -> np.ndarray:
        """A per-ROI array, checked along its ROI axis."""
        array = self.numeric(key, self.require(key, purpose))
        axis = c.ROI_AXIS[kind]
        if array.ndim == 0 or array.shape[axis] != n_rois:
            raise BadDataError(
                f"{self.path}: session {self.session!r}, key {key!r}: expected {n_rois} ROIs along axis "
                f"{axis}, received shape {array.shape}"
            )
        return array

    # -- traces -----------------------------------------------------------------------------------------------
    def trace_keys(self, response_type: str, trace_type: str) -> tuple[str, ...]:
        """The dataset(s) holding the requested traces (inferred spikes fall back to ``<s>_spikes``)."""
        keys = [k.format(s=response_type) for k in c.TRACE_KEYS[trace_type]]
        if trace_type == "spikes":
            for key in keys:
                if key in self.group:
                    return (key,)
            raise MissingKeyError(
                self.path,
                keys[0],
                f"session {self.session!r} has none of {keys} (trace_type='spikes'); "
                f"datasets present: {sorted(self.group)[:30]}",
            )
        for key in keys:
            if key not in self.group:
                raise MissingKeyError(
                    self.path,
                    key,
                    f"session {self.session!r} has no {key!r} (trace_type={trace_type!r}); "
                    f"datasets present: {sorted(self.group)[:30]}",
                )
        return tuple(keys)

    def n_rois(self, response_type: str, trace_type: str) -> int:
        """Number of ROIs, from the trace dataset's shape (nothing is read)."""
        key = self.trace_keys(response_type, trace_type)[0]
        shape = self.group[key].shape
        if len(shape) != 2:
            raise BadDataError(
                f"{self.path}: session {self.session!r}, key {key!r}: expected (n_rois, T), got {shape}"
            )
        return int(shape[c.ROI_AXIS["traces"]])

    def traces(self, response_type: str, trace_type: str, keep: np.ndarray) -> tuple[np.ndarray, str]:
        """``(n_kept, T)`` float32 traces of the kept ROIs and a description of the key(s) used."""
        keys = self.trace_keys(response_type, trace_type)
        n_rois = keep.size
        arrays = [self._roi_array(k, "traces", n_rois, f"trace_type={trace_type!r}")[keep] for k in keys]
        traces = arrays[0].astype(np.float32, copy=False)
        check_finite(traces, self.path, f"{self.session}/{keys[0]}", allow_nan=True)
        if len(arrays) == 2:  # detrended: raw minus smoothed
            if arrays[1].shape != traces.shape:
                raise BadDataError(
                    f"{self.path}: session {self.session!r}: {keys[0]} {arrays[0].shape} and {keys[1]} "
                    f"{arrays[1].shape} differ in shape"
                )
            traces = traces - arrays[1].astype(np.float32, copy=False)
            return traces, f"{keys[0]} - {keys[1]}"
        return traces, keys[0]

    def sample_times(
        self, response_type: str, keep: np.ndarray, n_samples: int
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """``(n_kept, T)`` sample times, or ``(t0, dt)`` per kept ROI for the ``_t0``/``_dt`` layout."""
        n_rois = keep.size
        times_key = c.TIMES_KEY.format(s=response_type)
        if self.has(times_key):
            times = self._roi_array(times_key, "traces_times", n_rois, "sample times")[keep]
            if times.ndim != 2 or times.shape[1] != n_samples:
                raise BadDataError(
                    f"{self.path}: session {self.session!r}, key {times_key!r}: expected ({n_rois}, {n_samples}), "
                    f"received {times.shape}"
                )
            return check_finite(times, self.path, f"{self.session}/{times_key}")  # NaN would shift the traces
        t0_key, dt_key = c.T0_KEY.format(s=response_type), c.DT_KEY.format(s=response_type)
        if not (self.has(t0_key) and self.has(dt_key)):
            raise MissingKeyError(
                self.path,
                times_key,
                f"session {self.session!r} has neither {times_key!r} nor {t0_key!r}/{dt_key!r} "
                f"(the sample times of the {response_type} traces)",
            )
        result = []
        for key, kind in ((t0_key, "traces_t0"), (dt_key, "traces_dt")):
            values = self.numeric(key, self.get(key)).astype(np.float64).reshape(-1)
            if values.size == 1:
                values = np.repeat(values, n_rois)
            if values.size != n_rois:
                raise BadDataError(
                    f"{self.path}: session {self.session!r}, key {key!r}: expected 1 or {n_rois} values "
                    f"({kind} per ROI), received {values.size}"
                )
            result.append(check_finite(values[keep], self.path, f"{self.session}/{key}"))
        return result[0], result[1]

    def trigger_times(self, response_type: str, n_rois: int | None = None) -> np.ndarray:
        """The field's trigger times, ``(n_triggers,)`` float64, from ``<s>_trigger_times``.

        The published files store ``(n_rois, n_triggers)``: one row per ROI, every row the same (triggers
        belong to the field's stimulus presentation, not to a ROI), and the reference loader reads row 0.
        So do we. Rows that disagree by more than :data:`constants.TRIGGER_ROW_TOLERANCE_S` are logged
        with the largest difference, and row 0 is still used. A single row ``(1, n_triggers)`` or a 1-D
        ``(n_triggers,)`` array is accepted too. A 2-D array with neither 1 nor ``n_rois`` rows (when
        ``n_rois`` is given), or one without any trigger, is refused with the shape received.
        """
        key = c.TRIGGER_KEY.format(s=response_type)
        triggers = self.numeric(key, self.require(key, "aligning responses to the stimulus")).astype(
            np.float64
        )
        if triggers.ndim == 2:
            if n_rois is not None and triggers.shape[0] not in (1, n_rois):
                raise BadDataError(
                    f"{self.path}: session {self.session!r}, key {key!r}: expected (n_rois={n_rois}, "
                    f"n_triggers) (one row per ROI) or (1, n_triggers), received {triggers.shape}"
                )
            rows, triggers = triggers, triggers[0]
            if rows.shape[0] > 1 and rows.shape[1] > 0:
                spread = float(np.nanmax(np.abs(rows - triggers[None, :]), initial=0.0))
                if not spread <= c.TRIGGER_ROW_TOLERANCE_S:
                    logger.warning(
                        "%s: session %s, %s: the %d per-ROI rows differ by up to %.6g s; using row 0 "
                        "(as the reference loader does)",
                        self.path,
                        self.session,
                        key,
                        rows.shape[0],
                        spread,
                    )
        if triggers.ndim != 1 or triggers.size == 0:
            raise BadDataError(
                f"{self.path}: session {self.session!r}, key {key!r}: no trigger times ({triggers.shape})"
            )
        return check_finite(triggers, self.path, f"{self.session}/{key}")  # the row used (row 0)

    # -- per-ROI and per-field metadata -------------------------------------------------------------------------
    def per_roi(self, keys: Iterable[str], n_rois: int) -> dict[str, np.ndarray]:
        """The per-ROI vectors ``keys`` (validated along their ROI axis)."""
        return {key: self._roi_array(key, key, n_rois, "quality filtering") for key in dict.fromkeys(keys)}

    def optional_per_roi(self, keys: Iterable[str], n_rois: int) -> dict[str, np.ndarray]:
        """Those of ``keys`` the field has (validated along their ROI axis)."""
        return {key: self._roi_array(key, key, n_rois, "metadata") for key in keys if self.has(key)}

    def eye(self) -> str | None:
        value = _as_text(self.get("eye"))
        return value.lower() if value else None

    def scan_sequence_idx(self) -> int | None:
        value = self.get("scan_sequence_idx")
        if value is None:
            return None
        array = np.asarray(value).reshape(-1)
        if array.size != 1:
            raise BadDataError(
                f"{self.path}: session {self.session!r}: scan_sequence_idx has shape {np.shape(value)}"
            )
        return int(array[0])

    def roi_mask(self) -> np.ndarray | None:
        value = self.get("roi_mask")
        return None if value is None else np.asarray(value)
