"""Fixation movies: frames that show an image placed by a fixation, read as windows of a stack of images.

A fixation movie's frame is an image moved so that a fixated point lands on a fixed screen position, cut to a
window (Sridhar 2025: a crop of a padded image, optionally mirrored; Karamanlis 2024: a 600x800 screen, zero
where the image does not reach, then resized, which its plugin does by filtering each image once and reading
the filtered image on a grid). Either way a frame is a grid of values read from one image of a stack at an
origin the fixation sets, and the work is bounded by how many frames and images a block holds. What is shared:

* planning: :func:`image_blocks` (consecutive frames in bounded blocks that use few images: rendering in time
  order, straight into a file) and :func:`image_groups` (frames grouped by image, a bounded number of images
  per group: when each image is expensive to prepare);
* gathering: :func:`window_frames` (``out[b, i, j] = stack[slot[b], row[b] + i * sy, col[b] + j * sx]``, zero
  where the window leaves the image; one indexing of a strided view, by numpy on the CPU, whose fancy indexing
  of such views is several times faster than torch's, and by torch on other devices) and :func:`grid_frames`
  (each frame the outer sum of a per-frame row-index vector and column-index vector into a flat array: grids
  that are not regular, e.g. indices clamped at a border);
* streaming: :class:`StreamedFrames`, an array-like whose row slices are rendered when they are read, so a
  prepared store entry's ``EntryWriter.put`` writes rendered frames to its file in bounded chunks (no mapping,
  no full movie in memory), the next chunk rendered in a thread while the current one is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from openretina_core.registry.errors import BadArgumentError, BadDataError

__all__ = ["StreamedFrames", "grid_frames", "image_blocks", "image_groups", "window_frames"]


def image_blocks(image: np.ndarray, max_frames: int, max_images: int) -> list[tuple[int, int]]:
    """Consecutive ``[start, stop)`` ranges covering ``image`` (each frame's image index), each of at most
    ``max_frames`` frames and at most ``max_images`` distinct images (a single frame always fits). A range grows
    256 frames at a time and is cut frame by frame inside the step that would exceed ``max_images``."""
    if max_frames < 1 or max_images < 1:
        raise BadArgumentError("max_frames, max_images", "two positive integers", (max_frames, max_images))
    image = np.asarray(image)
    ranges, start, step = [], 0, 256
    while start < len(image):
        stop, used = start, set[int]()
        while stop < len(image) and stop - start < max_frames:
            end = min(len(image), stop + step, start + max_frames)
            grown = used | set(np.unique(image[stop:end]).tolist())
            if len(grown) <= max_images:
                used, stop = grown, end
                continue
            for value in image[stop:end].tolist():  # the exact cut inside this step
                if value not in used:
                    if len(used) == max_images:
                        break
                    used.add(value)
                stop += 1
            break
        ranges.append((start, stop))
        start = stop
    return ranges


def image_groups(image: np.ndarray, max_images: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Frames grouped by image: ``(ids, frames, local)`` per group of at most ``max_images`` distinct images in
    ascending order, ``frames`` the frame numbers showing them (by image, then time) and ``local`` each frame's
    position in ``ids``."""
    if max_images < 1:
        raise BadArgumentError("max_images", "a positive integer", max_images)
    image = np.asarray(image)
    order = np.argsort(image, kind="stable")
    used, first = np.unique(image[order], return_index=True)
    bounds = np.append(first, len(image))
    for g0 in range(0, len(used), max_images):
        ids = used[g0 : g0 + max_images]
        frames = order[bounds[g0] : bounds[g0 + len(ids)]]
        yield ids, frames, np.searchsorted(ids, image[frames])


def _as_long(values: Any, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.int64), device=device)


def window_frames(
    stack: torch.Tensor,
    slot: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    shape: Sequence[int],
    step: Sequence[int] = (1, 1),
) -> torch.Tensor:
    """``(B, H, W)`` frames of ``stack`` ``(S, Y, X)``: frame ``b`` holds ``stack[slot[b], row[b] + i * sy,
    col[b] + j * sx]`` for ``i < H``, ``j < W``, and 0 where that lies outside the image (the image placed by
    the fixation into a zero-filled window). Same dtype and device as ``stack``."""
    height, width = (int(v) for v in shape)
    sy, sx = (int(v) for v in step)
    if height < 1 or width < 1 or sy < 1 or sx < 1 or stack.ndim != 3:
        raise BadArgumentError(
            "window_frames(stack, shape, step)",
            "a (S, Y, X) stack and a positive (H, W) shape and (sy, sx) step",
            (tuple(stack.shape), (height, width), (sy, sx)),
        )
    slot, row, col = (np.asarray(v, dtype=np.int64) for v in (slot, row, col))
    n_slots, ny, nx = (int(v) for v in stack.shape)
    if len(slot) and (slot.min() < 0 or slot.max() >= n_slots):
        raise BadDataError(f"window_frames: image slots {slot.min()}..{slot.max()} outside 0..{n_slots - 1}")
    span_y, span_x = (height - 1) * sy + 1, (width - 1) * sx + 1
    pad = 0
    if len(row):  # windows leaving the image: zero margins wide enough for the farthest one
        pad = int(max(0, -row.min(), -col.min(), row.max() + span_y - ny, col.max() + span_x - nx))
        pad = min(pad, max(span_y, span_x))  # a window entirely off the image reads only margin
        row = np.clip(row, -pad, ny + pad - span_y)
        col = np.clip(col, -pad, nx + pad - span_x)
    if pad:
        padded = stack.new_zeros((n_slots, ny + 2 * pad, nx + 2 * pad))
        padded[:, pad : pad + ny, pad : pad + nx] = stack
        stack, row, col, ny, nx = padded, row + pad, col + pad, ny + 2 * pad, nx + 2 * pad
    stack = stack.contiguous()
    strides = (ny * nx, nx, 1, sy * nx, sx)
    windows_shape = (n_slots, ny - span_y + 1, nx - span_x + 1, height, width)
    if stack.device.type == "cpu":
        array = stack.numpy()
        item = array.itemsize
        view = np.lib.stride_tricks.as_strided(array, windows_shape, [s * item for s in strides])
        return torch.from_numpy(view[slot, row, col])
    device = stack.device
    view_t = stack.as_strided(windows_shape, strides)
    return view_t[_as_long(slot, device), _as_long(row, device), _as_long(col, device)]


def grid_frames(flat: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` with ``[b, i, j] = flat[rows[b, i] + cols[b, j]]``: frames whose grid of read positions is
    the outer sum of a row-index vector ``(B, H)`` and a column-index vector ``(B, W)`` per frame (offsets into
    the flattened, e.g. zero-padded and filtered, images)."""
    if flat.ndim != 1 or rows.ndim != 2 or cols.ndim != 2 or rows.shape[0] != cols.shape[0]:
        raise BadArgumentError(
            "grid_frames(flat, rows, cols)",
            "a 1-D array and (B, H), (B, W) index vectors",
            (tuple(flat.shape), tuple(rows.shape), tuple(cols.shape)),
        )
    return flat.take(rows[:, :, None] + cols[:, None, :])


class StreamedFrames:
    """An array-like ``shape`` of ``dtype`` whose row slices ``[start:stop]`` are rendered when read:
    ``render(start, stop, out)`` fills ``out`` (rows ``start..stop``). For writers that read a source in
    consecutive bounded slices (``EntryWriter.put``): each slice lands in one of two reused buffers, and the
    next slice of the same size is rendered in a thread while the caller consumes this one. A returned slice is
    valid until the next read."""

    def __init__(
        self,
        shape: Sequence[int],
        dtype: Any,
        render: Callable[[int, int, np.ndarray], object],
        *,
        prefetch: bool = True,
    ) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.render = render
        self.prefetch = prefetch
        self._buffers: list[np.ndarray] = []
        self._turn = 0
        self._pending: tuple[int, int, Future[np.ndarray]] | None = None
        self._pool: ThreadPoolExecutor | None = None

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def _buffer(self, rows: int) -> np.ndarray:
        self._turn = 1 - self._turn
        while len(self._buffers) <= self._turn:
            self._buffers.append(np.empty((0, *self.shape[1:]), self.dtype))
        if self._buffers[self._turn].shape[0] < rows:
            self._buffers[self._turn] = np.empty((rows, *self.shape[1:]), self.dtype)
        return self._buffers[self._turn][:rows]

    def _fill(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        self.render(start, stop, out)
        return out

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise BadArgumentError("StreamedFrames[key]", "a slice of rows", key)
        start, stop, stride = key.indices(self.shape[0])
        if stride != 1:
            raise BadArgumentError("StreamedFrames[key]", "a slice of consecutive rows (step 1)", key)
        stop = max(start, stop)
        pending, self._pending = self._pending, None
        if pending is not None and pending[:2] == (start, stop):
            out = pending[2].result()
        else:
            if pending is not None:
                pending[2].result()  # finish (and drop) a guess that did not come true
            out = self._fill(start, stop, self._buffer(stop - start))
        following = (stop, min(self.shape[0], 2 * stop - start))
        if self.prefetch and following[1] > following[0]:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="frames")
            buffer = self._buffer(following[1] - following[0])
            self._pending = (*following, self._pool.submit(self._fill, *following, buffer))
        elif self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return out

    def close(self) -> None:
        """Wait for a slice rendered ahead and stop the thread."""
        if self._pending is not None:
            self._pending[2].result()
            self._pending = None
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def read_all(self, out: np.ndarray, rows: int) -> np.ndarray:
        """Render every row into ``out`` (``shape``), ``rows`` at a time."""
        if out.shape != self.shape:
            raise BadArgumentError("read_all(out)", f"an array of shape {self.shape}", out.shape)
        for start in range(0, self.shape[0], max(1, rows)):
            stop = min(self.shape[0], start + max(1, rows))
            self.render(start, stop, out[start:stop])
        return out
