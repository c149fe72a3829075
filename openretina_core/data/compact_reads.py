"""Frame stacks read in their published dtype when it is narrow (uint8, int8, float16), for the prepared store.

:func:`read_frames_published` returns what :func:`~openretina_core.data.h5blocks.read_frames` returns, except
that a narrow stack stays in its dtype: the moments are taken from the same blocks converted to float32 (so they,
and the z-score folded into the :class:`~openretina_core.data.compact.StimulusMap`, equal the float32 path's bit
for bit), and the buffer is a quarter (uint8, int8) or half (float16) of the float32 one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from openretina_core.data.compact import keeps_compact
from openretina_core.data.h5blocks import RunningMoments, frame_blocks, read_frames
from openretina_core.data.values import check_finite, check_real_dtype
from openretina_core.registry.errors import BadDataError, BadFileError


def read_frames_published(
    dset: Any,
    path: str | os.PathLike[str],
    *,
    moments: bool,
    store_dtype: str = "published",
    expected: str = "(frames, height, width)",
    progress: Callable[[int], Any] | None = None,
) -> tuple[np.ndarray, RunningMoments | None]:
    """An ``(N, H, W)`` dataset into a new ``(N, 1, H, W)`` buffer in its published dtype when that is narrow
    (and ``store_dtype`` is ``"published"``), else float32 as ``read_frames`` reads it; with its moments (of
    the float32 values) if asked. Non-finite values are an error naming the file and key."""
    if not keeps_compact(dset.dtype, store_dtype):
        return read_frames(dset, path, moments=moments, expected=expected, progress=progress)
    check_real_dtype(dset.dtype, path, str(dset.name))
    if dset.ndim != 3:
        raise BadDataError(f"{path}: key {dset.name!r} has shape {dset.shape}; expected {expected}")
    n_frames, height, width = (int(s) for s in dset.shape)
    buffer = np.empty((n_frames, 1, height, width), dtype=dset.dtype)
    target = buffer.reshape(n_frames, height, width)
    stats = RunningMoments() if moments else None
    frame_bytes = height * width * 4  # the float32 path's blocks, so the moments merge identically
    for block in frame_blocks(n_frames, frame_bytes, int(dset.chunks[0]) if dset.chunks else None):
        dset.read_direct(target, source_sel=block, dest_sel=block)
        if stats is not None:
            stats.add(target[block].astype(np.float32))
        if progress is not None:
            progress((block.stop - block.start) * height * width * buffer.itemsize)
    if stats is not None and not (np.isfinite(stats.mean) and np.isfinite(stats.m2)):
        raise BadFileError(path, f"key {dset.name!r} contains NaN or infinite values", "finite numbers")
    if stats is None and buffer.dtype.kind == "f":
        check_finite(buffer, path, str(dset.name))
    return buffer, stats
