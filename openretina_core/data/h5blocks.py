"""HDF5 reads in bounded memory, shared by the MEA plugins: a frame stack straight into one float32 buffer with
the moments of its values, small arrays as float32, and a key lookup whose error names the file.

A stack of ``(N, H, W)`` frames (a movie, flashed images) is copied block by block into a new
``(N, 1, H, W)`` float32 buffer: ``read_direct`` when it is stored as float32, else one block at a time in the
stored dtype, converted on assignment, so no full-size temporary of another dtype exists. While a block is hot
in the cache its moments are accumulated (:class:`RunningMoments`); the z-score then runs in place, block by
block (:func:`openretina_core.data.normalize.zscore_in_place`). Peak memory is the buffer plus one block.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from attrs import define

from openretina_core.data.reading import MissingKeyError
from openretina_core.data.values import check_finite, check_real_dtype
from openretina_core.registry.errors import BadDataError, BadFileError

READ_BLOCK_BYTES = 4 << 20  # float32 bytes per block: fits the CPU cache (measured best for 50x50 frames)


@define
class RunningMoments:
    """Count, mean and sum of squared deviations over blocks, merged pairwise (Chan et al.) in float64."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, block: np.ndarray) -> None:
        """Merge the moments of a float32 block (any shape); uses one block-sized float32 temporary."""
        flat = block.reshape(-1)
        n = flat.size
        if n == 0:
            return
        # numpy's float32 sum is pairwise (accurate to a few ulp) and 4x faster than a float64 sum. The squared
        # deviations are summed the same way, in place: a BLAS dot accumulates in float32 lanes and was off by
        # up to ~1e-4 (relative) on 18M-value blocks, which the openretina cross-check showed in the z-score.
        block_mean = float(flat.sum()) / n
        centred = flat - np.float32(block_mean)
        np.square(centred, out=centred)
        block_m2 = float(centred.sum())
        total = self.count + n
        delta = block_mean - self.mean
        self.mean += delta * n / total
        self.m2 += block_m2 + delta * delta * self.count * n / total
        self.count = total

    @property
    def std(self) -> float:
        """The unbiased standard deviation (torch's default, as openretina's z-score uses)."""
        return float(np.sqrt(self.m2 / max(1, self.count - 1)))


def frame_blocks(n_frames: int, frame_bytes: int, chunk_frames: int | None = None) -> Iterator[slice]:
    """Consecutive frame ranges of about ``READ_BLOCK_BYTES``, aligned to the HDF5 chunking when given."""
    per_block = max(1, READ_BLOCK_BYTES // max(1, frame_bytes))
    if chunk_frames:
        per_block = max(chunk_frames, per_block // chunk_frames * chunk_frames)
    for start in range(0, n_frames, per_block):
        yield slice(start, min(n_frames, start + per_block))


def require_dataset(h5: Any, key: str, path: str | os.PathLike[str]) -> Any:
    """``h5[key]`` as a dataset, or a ``MissingKeyError`` (a ``KeyError``) naming the file, the key and what its
    group holds."""
    import h5py

    node = h5.get(key)
    if isinstance(node, h5py.Dataset):
        return node
    parent_key = key.rsplit("/", 1)[0] if "/" in key else "/"
    parent = h5.get(parent_key)
    holds = sorted(parent.keys()) if isinstance(parent, h5py.Group) else "nothing (it is missing)"
    problem = "is not a dataset" if node is not None else "is missing"
    raise MissingKeyError(path, key, f"key {key!r} {problem}; {parent_key!r} holds {holds}")


def read_frames(
    dset: Any,
    path: str | os.PathLike[str],
    *,
    moments: bool,
    expected: str = "(frames, height, width)",
    progress: Callable[[int], Any] | None = None,
) -> tuple[np.ndarray, RunningMoments | None]:
    """An ``(N, H, W)`` dataset into a new ``(N, 1, H, W)`` float32 buffer, with its moments if asked.

    Non-finite values are an error naming the file and key (found from the moments; without them the values
    are scanned). ``progress(nbytes)`` is called after each block.
    """
    check_real_dtype(dset.dtype, path, str(dset.name))  # complex would lose its imaginary part
    if dset.ndim != 3:
        raise BadDataError(f"{path}: key {dset.name!r} has shape {dset.shape}; expected {expected}")
    n_frames, height, width = (int(s) for s in dset.shape)
    buffer = np.empty((n_frames, 1, height, width), dtype=np.float32)
    target = buffer.reshape(n_frames, height, width)  # a view: reads land in the buffer itself
    stats = RunningMoments() if moments else None
    frame_bytes = height * width * 4
    for block in frame_blocks(n_frames, frame_bytes, int(dset.chunks[0]) if dset.chunks else None):
        if dset.dtype == np.float32:
            dset.read_direct(target, source_sel=block, dest_sel=block)
        else:
            target[block] = dset[block]  # one block in the stored dtype, converted on assignment
        if stats is not None:
            stats.add(target[block])
        if progress is not None:
            progress((block.stop - block.start) * frame_bytes)
    if stats is not None and not (np.isfinite(stats.mean) and np.isfinite(stats.m2)):
        raise BadFileError(path, f"key {dset.name!r} contains NaN or infinite values", "finite numbers")
    if stats is None:
        check_finite(buffer, path, str(dset.name))
    return buffer, stats


def read_float32(dset: Any, path: str | os.PathLike[str], scale: float = 1.0) -> np.ndarray:
    """A small dataset (responses, repeats) as a new float32 array divided by ``scale``; NaN is kept for the
    loaders' ``nan_policy``, infinite values are an error naming the key."""
    check_real_dtype(dset.dtype, path, str(dset.name))
    array = np.empty(dset.shape, dtype=np.float32)
    if dset.size:
        if dset.dtype == np.float32:
            dset.read_direct(array)
        else:
            array[...] = dset[...]
    if scale != 1.0:
        array /= np.float32(scale)
    return check_finite(array, path, str(dset.name), allow_nan=True)
