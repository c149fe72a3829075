"""Goldin's HDF5 reads: images through the core's bounded-memory frame reader (``openretina_core.data.read_frames``:
straight into one image-major ``(N_img, 1, H, W)`` float32 buffer, moments per block), small arrays as float32,
responses image-major.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from openretina_core import BadDataError
from openretina_core.data import (
    RunningMoments,
    check_finite,
    check_real_dtype,
    read_frames,
    require_dataset,
    zscore_in_place,
)
from openretina_core.data import read_float32 as _read_float32

__all__ = ["read_float32", "read_image_major", "read_images", "require_dataset", "zscore_in_place"]


def require_numeric(dset: h5py.Dataset, path: Path, expected: str) -> None:
    """A numeric dataset with ``expected``'s number of axes (e.g. ``"(images, height, width)"``)."""
    check_real_dtype(dset.dtype, path, str(dset.name))  # complex would lose its imaginary part
    if dset.ndim != expected.count(",") + 1:
        raise BadDataError(f"{path}: key {dset.name!r} has shape {dset.shape}; expected {expected}")


def read_images(dset: h5py.Dataset, path: Path, *, moments: bool) -> tuple[np.ndarray, RunningMoments | None]:
    """``(N, H, W)`` images into a new ``(N, 1, H, W)`` float32 buffer, with their moments if asked."""
    return read_frames(dset, path, moments=moments, expected="(images, height, width)")


def read_float32(dset: h5py.Dataset, path: Path, expected: str, scale: float = 1.0) -> np.ndarray:
    """A small dataset with ``expected``'s number of axes as a new float32 array divided by ``scale``."""
    require_numeric(dset, path, expected)
    return _read_float32(dset, path, scale)


def read_image_major(dset: h5py.Dataset, path: Path, scale: float) -> np.ndarray:
    """``(cells, N)`` responses as the ``(cells, N)`` view of a new image-major ``(N, cells)`` float32 buffer
    (so a batch of images gathers contiguous rows), divided by ``scale``."""
    require_numeric(dset, path, "(cells, images)")
    n_cells, n_images = (int(s) for s in dset.shape)
    buffer = np.empty((n_images, n_cells), dtype=np.float32)
    buffer[...] = dset[...].T  # one temporary of the stored (small) array
    if scale != 1.0:
        buffer /= np.float32(scale)
    check_finite(buffer, path, str(dset.name), allow_nan=True)
    return buffer.T
