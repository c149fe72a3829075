"""Maheswaranathan's HDF5 reads: the core's bounded-memory frame reader (``openretina_core.data.read_frames``:
straight into one time-major ``(T, 1, H, W)`` float32 buffer, moments taken per block) with a byte progress bar
shown on terminals.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from openretina_core.data import RunningMoments, read_frames_published, require_dataset, zscore_in_place
from openretina_core.data import read_float32 as read_array

NO_PROGRESS_ENV = "OPENRETINA_NO_PROGRESS"
__all__ = ["read_array", "read_movie", "require_dataset", "zscore_in_place"]


def _progress(total: int, desc: str) -> Any:
    """A byte progress bar, shown only on a terminal and never with ``OPENRETINA_NO_PROGRESS=1``."""
    from tqdm.auto import tqdm

    off = os.environ.get(NO_PROGRESS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
    stream = sys.stderr
    shown = not off and stream is not None and hasattr(stream, "isatty") and stream.isatty()
    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        leave=False,
        disable=not shown,
        file=stream,
    )


def read_movie(
    dset: h5py.Dataset, path: Path, *, moments: bool, store_dtype: str = "float32"
) -> tuple[np.ndarray, RunningMoments | None]:
    """A ``(T, H, W)`` stimulus into a new time-major ``(T, 1, H, W)`` buffer: float32, or its published dtype
    when that is narrow and ``store_dtype="published"``; with the moments of its float32 values if asked;
    non-finite values are an error naming the file and key."""
    with _progress(
        int(np.prod(dset.shape)) * 4, f"reading {path.parent.name}/{path.name}:{dset.name}"
    ) as bar:
        return read_frames_published(
            dset,
            path,
            moments=moments,
            store_dtype=store_dtype,
            expected="(time, height, width)",
            progress=bar.update,
        )
