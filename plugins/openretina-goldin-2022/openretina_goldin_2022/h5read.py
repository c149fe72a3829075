"""HDF5 reads in bounded memory: images straight into one float32 buffer, small arrays as float32.

The images of a session (about 140 MB as float32 for ~3000 images of 108x108) are copied block by block into
a preallocated image-major ``(N_img, 1, H, W)`` buffer: ``read_direct`` when stored as float32, otherwise one
block at a time in the stored dtype, converted on assignment. The sums needed for the z-score are taken per
block while it is in the cache; the z-score then runs in place, block by block. Peak memory is the buffer
plus one block.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
from attrs import define

from openretina_core import BadDataError, BadFileError
from openretina_core.data import MissingKeyError, check_finite, check_real_dtype
from openretina_goldin_2022 import constants


def require_dataset(h5: h5py.File, key: str, path: Path) -> h5py.Dataset:
    """``h5[key]`` as a dataset, or a ``KeyError`` naming the file, the key and what its group holds."""
    node = h5.get(key)
    if isinstance(node, h5py.Dataset):
        return node
    parent_key = key.rsplit("/", 1)[0] if "/" in key else "/"
    parent = h5.get(parent_key)
    holds = sorted(parent.keys()) if isinstance(parent, h5py.Group) else "nothing (it is missing)"
    problem = "is not a dataset" if node is not None else "is missing"
    raise MissingKeyError(
        path, key, f"key {key!r} {problem}; expected it in this layout. {parent_key!r} holds {holds}"
    )


def require_numeric(dset: h5py.Dataset, path: Path, expected: str) -> None:
    """A numeric dataset with ``expected``'s number of axes (e.g. ``"(images, height, width)"``)."""
    check_real_dtype(dset.dtype, path, str(dset.name))  # complex would lose its imaginary part
    if dset.ndim != expected.count(",") + 1:
        raise BadDataError(f"{path}: key {dset.name!r} has shape {dset.shape}; expected {expected}")


@define
class RunningMoments:
    """Count, mean and sum of squared deviations over blocks, merged pairwise (Chan et al.) in float64."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def update(self, block: np.ndarray) -> None:
        values = block.reshape(-1)
        n = values.size
        if n == 0:
            return
        # numpy sums float32 pairwise (a relative error of ~1e-8 here); a float64 pass is 2-10x slower.
        block_mean = float(values.sum()) / n
        squares = np.subtract(values, np.float32(block_mean))  # the one block-sized temporary
        np.square(squares, out=squares)
        block_m2 = float(squares.sum())
        total = self.count + n
        delta = block_mean - self.mean
        self.mean += delta * n / total
        self.m2 += block_m2 + delta * delta * self.count * n / total
        self.count = total

    @property
    def std(self) -> float:
        """The unbiased standard deviation (torch's default, as openretina's z-score uses)."""
        return float(np.sqrt(self.m2 / max(1, self.count - 1)))


def image_blocks(n_images: int, image_bytes: int, chunk_images: int | None) -> Iterator[slice]:
    """Consecutive image ranges of about ``READ_BLOCK_BYTES`` float32, aligned to the HDF5 chunks."""
    per_block = max(1, constants.READ_BLOCK_BYTES // max(1, image_bytes))
    if chunk_images:
        per_block = max(chunk_images, per_block // chunk_images * chunk_images)
    for start in range(0, n_images, per_block):
        yield slice(start, min(n_images, start + per_block))


def read_images(dset: h5py.Dataset, path: Path, *, moments: bool) -> tuple[np.ndarray, RunningMoments | None]:
    """``(N, H, W)`` images into a new ``(N, 1, H, W)`` float32 buffer, with their moments if asked."""
    require_numeric(dset, path, "(images, height, width)")
    n_images, height, width = (int(s) for s in dset.shape)
    buffer = np.empty((n_images, 1, height, width), dtype=np.float32)
    target = buffer.reshape(n_images, height, width)  # a view: reads land in the buffer
    stats = RunningMoments() if moments else None
    chunk_images = int(dset.chunks[0]) if dset.chunks else None
    for block in image_blocks(n_images, height * width * 4, chunk_images):
        if dset.dtype == np.float32:
            dset.read_direct(target, source_sel=block, dest_sel=block)
        else:
            target[block] = dset[block]
        if stats is not None:
            stats.update(target[block])
    if stats is not None and not (np.isfinite(stats.mean) and np.isfinite(stats.m2)):
        raise BadFileError(path, f"key {dset.name!r} contains NaN or infinite values", "finite numbers")
    if stats is None:
        check_finite(buffer, path, str(dset.name))
    return buffer, stats


def zscore_in_place(images: np.ndarray, mean: float, std: float) -> None:
    """``images = (images - mean) / std``, block by block."""
    mean32, std32 = np.float32(mean), np.float32(std)
    image_bytes = int(np.prod(images.shape[1:])) * images.itemsize
    for block in image_blocks(images.shape[0], image_bytes, None):
        part = images[block]
        np.subtract(part, mean32, out=part)
        np.divide(part, std32, out=part)


def read_float32(dset: h5py.Dataset, path: Path, expected: str, scale: float = 1.0) -> np.ndarray:
    """A small dataset as a new float32 array divided by ``scale``."""
    require_numeric(dset, path, expected)
    out = np.empty(dset.shape, dtype=np.float32)
    if dset.size:
        if dset.dtype == np.float32:
            dset.read_direct(out)
        else:
            out[...] = dset[...]
    if scale != 1.0:
        out /= np.float32(scale)
    return check_finite(out, path, str(dset.name), allow_nan=True)  # NaN: the loaders' nan_policy


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
