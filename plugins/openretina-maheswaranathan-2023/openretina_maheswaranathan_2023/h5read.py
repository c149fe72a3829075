"""Lazy, bounded-memory HDF5 reads: one key at a time, movies straight into one preallocated float32 buffer.

A movie of the real files is ~3.6 GB as float32. It is copied block by block into a time-major
``(T, 1, H, W)`` float32 buffer (``read_direct`` when the stored dtype is float32; otherwise each block is
read in its stored dtype and converted into the buffer, so no full-size temporary of another dtype exists).
While a block is hot in the CPU cache its moments are accumulated; normalisation then runs block-wise in
place.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from attrs import define

from openretina_core import BadDataError, BadFileError
from openretina_core.data import MissingKeyError, check_finite, check_real_dtype
from openretina_maheswaranathan_2023.constants import READ_BLOCK_BYTES

NO_PROGRESS_ENV = "OPENRETINA_NO_PROGRESS"


def require_dataset(h5: h5py.File, key: str, path: Path) -> h5py.Dataset:
    """``h5[key]`` as a dataset, or a ``MissingKeyError`` (a ``KeyError``) naming the file, the key and what its
    group holds."""
    node = h5.get(key)
    if isinstance(node, h5py.Dataset):
        return node
    parent_key = key.rsplit("/", 1)[0] if "/" in key else "/"
    parent = h5.get(parent_key)
    listing = sorted(parent.keys()) if isinstance(parent, h5py.Group) else "(missing)"
    what = "is not a dataset" if node is not None else "is missing"
    raise MissingKeyError(path, key, f"key {key!r} {what}; {parent_key!r} holds {listing}")


def check_numeric(dset: h5py.Dataset, path: Path) -> None:
    """Real numbers only: complex values would lose their imaginary part, strings fail in numpy."""
    check_real_dtype(dset.dtype, path, str(dset.name))


@define
class Moments:
    """Running count, mean and sum of squared deviations (Chan et al.'s pairwise merge), in float64."""

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
        """Unbiased standard deviation (as torch computes it)."""
        return float(np.sqrt(self.m2 / max(1, self.count - 1)))


def frame_blocks(
    n_frames: int, frame_bytes: int, chunk_frames: int | None = None
) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` frame ranges of about ``READ_BLOCK_BYTES`` float32, aligned to the HDF5 chunking."""
    per_block = max(1, READ_BLOCK_BYTES // max(1, frame_bytes))
    if chunk_frames:
        per_block = max(chunk_frames, per_block // chunk_frames * chunk_frames)
    for start in range(0, n_frames, per_block):
        yield start, min(n_frames, start + per_block)


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


def read_movie(dset: h5py.Dataset, path: Path, *, moments: bool) -> tuple[np.ndarray, Moments | None]:
    """Read a ``(T, H, W)`` stimulus into a new time-major ``(T, 1, H, W)`` float32 buffer.

    Returns the buffer and, if ``moments``, the moments of its values. Non-finite values are an error naming
    the file and key (found from the moments; without them the container's own check reports them).
    """
    check_numeric(dset, path)
    if dset.ndim != 3:
        raise BadDataError(
            f"{path}: key {dset.name!r} has shape {dset.shape}; expected (time, height, width)"
        )
    n_frames, height, width = (int(s) for s in dset.shape)
    buffer = np.empty((n_frames, 1, height, width), dtype=np.float32)
    target = buffer.reshape(n_frames, height, width)  # a view: reads land in the buffer itself
    stats = Moments() if moments else None
    direct = dset.dtype == np.float32
    chunk_frames = int(dset.chunks[0]) if dset.chunks else None
    frame_bytes = height * width * 4
    with _progress(buffer.nbytes, f"reading {path.parent.name}/{path.name}:{dset.name}") as bar:
        for start, stop in frame_blocks(n_frames, frame_bytes, chunk_frames):
            if direct:
                dset.read_direct(target, source_sel=np.s_[start:stop], dest_sel=np.s_[start:stop])
            else:
                target[start:stop] = dset[
                    start:stop
                ]  # one block in the stored dtype, converted on assignment
            if stats is not None:
                stats.add(target[start:stop])
            bar.update((stop - start) * frame_bytes)
    if stats is not None and not (np.isfinite(stats.mean) and np.isfinite(stats.m2)):
        raise BadFileError(path, f"key {dset.name!r} contains NaN or infinite values", "finite numbers")
    if stats is None:
        check_finite(buffer, path, str(dset.name))
    return buffer, stats


def normalize_in_place(movie: np.ndarray, mean: float, std: float) -> None:
    """``movie = (movie - mean) / std`` block by block (cache-friendly; no temporary beyond one block)."""
    if not std > 0:
        raise BadDataError(f"cannot z-score a constant movie (std {std})")
    n_frames = movie.shape[0]
    frame_bytes = int(np.prod(movie.shape[1:])) * movie.itemsize
    m, s = np.float32(mean), np.float32(std)
    for start, stop in frame_blocks(n_frames, frame_bytes):
        block = movie[start:stop]
        np.subtract(block, m, out=block)
        np.divide(block, s, out=block)


def read_array(dset: h5py.Dataset, path: Path, scale: float = 1.0) -> np.ndarray:
    """A small dataset (responses, repeats) as float32, divided by ``scale`` (one float32 copy)."""
    check_numeric(dset, path)
    array = np.empty(dset.shape, dtype=np.float32)
    if dset.size:
        if dset.dtype == np.float32:
            dset.read_direct(array)
        else:
            array[...] = dset[...]
    if scale != 1.0:
        array /= np.float32(scale)
    return check_finite(array, path, str(dset.name), allow_nan=True)  # NaN: the loaders' nan_policy
