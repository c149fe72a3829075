"""Fixation movies without full-resolution frames.

A frame shows image ``k`` shifted on a zeroed 600x800 screen (the authors' ``returnFixMovie.m``) and is then
resized exactly as ``torch.nn.functional.interpolate(..., mode="bilinear", antialias=True,
align_corners=False)`` does. The resize is separable, and away from the screen border every output pixel is
the same kernel at a regular offset (see ``resize.py``). Shifting the image by ``(p, q)`` only moves where the
kernels read it, so each image is filtered once at full resolution (banded matrix products) and every frame
of it is a gather of ``H x W`` values from the filtered image; the few border outputs (kernels truncated by
the screen edge) are gathered from the image filtered along one axis, with their own weights. Work and memory
scale with the number of images plus ``frames x H x W``; a 600x800 frame never exists.

Shared with Sridhar's renderer (``openretina_core.data.fixation_movies``): grouping the frames by image
(``image_groups``) and reading each frame's grid of positions from the stacked images (``grid_frames``). The
resize filtering and the screen-edge outputs are this plugin's own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from attrs import define

from openretina_core import BadDataError
from openretina_core.data import grid_frames, image_groups
from openretina_karamanlis_2024.constants import DEFAULT_TARGET_SIZE, FIXATION_SCREEN_PIXEL, SCREEN_SHAPE
from openretina_karamanlis_2024.resize import TILE, AxisPlan, axis_resize, resize_operator

logger = logging.getLogger(__name__)

_GROUP_BYTES = 96 << 20  # filtered images held at once
_BATCH_BYTES = 48 << 20  # gather indices (or per-frame matrices) of one frame batch
_MAX_EDGE_OUTPUTS = 8
_SLAB_BYTES = 256 << 20  # images read at once when the file's chunks hold several images


@define(frozen=True, eq=False)
class _Filtered:
    """A group of images: raw ``(G*S0 + pad, cols)``, filtered along x ``(G*S0, cols)``, along both
    ``(tiles1, G*S0, TILE)``; and filtered along y only at the raw rows the x-edge outputs read,
    ``(tiles1, n_rows, TILE)`` with ``row_map`` from raw row to its index there (None without x edges)."""

    raw: torch.Tensor
    x_only: torch.Tensor
    both: torch.Tensor
    y_only: torch.Tensor | None
    row_map: torch.Tensor | None
    rows: int  # G*S0


class _ImageReader:
    """Reads images by sorted index. When the file stores several images per HDF5 chunk (compressed chunks
    would otherwise be decompressed once per group), whole chunk-aligned slabs are read once and kept while
    the indices pass through them."""

    def __init__(self, images: Any) -> None:
        self.images = images
        self.count = int(images.shape[0])
        chunks = getattr(images, "chunks", None)
        per_image = int(np.prod(images.shape[1:])) * np.dtype(images.dtype).itemsize
        self.step = 1
        if chunks and chunks[0] > 1:
            if chunks[0] * per_image <= _SLAB_BYTES:
                self.step = int(chunks[0])
            else:
                logger.info(
                    "images are stored %d per chunk: chunks may be decompressed repeatedly", chunks[0]
                )
        self.lo, self.hi, self.slab = 0, 0, np.empty(0)

    def read(self, ids: np.ndarray) -> np.ndarray:
        """The images ``ids`` (sorted, unique) as one array."""
        if self.step > 1:
            parts = []
            for k in ids:
                if not self.lo <= k < self.hi:
                    self.lo = int(k) // self.step * self.step
                    self.hi = min(self.count, self.lo + self.step)
                    self.slab = np.asarray(self.images[self.lo : self.hi])
                parts.append(self.slab[int(k) - self.lo])
            return np.stack(parts)
        lo, hi = int(ids[0]), int(ids[-1]) + 1
        if hi - lo == len(ids):
            return np.asarray(self.images[lo:hi])
        if hi - lo <= 2 * len(ids):  # a contiguous slab when that reads little extra
            return np.asarray(self.images[lo:hi])[ids - lo]
        return np.stack([np.asarray(self.images[int(k)]) for k in ids])


class FixationComposer:
    """Composes fixation frames from an image ensemble in the file's layout ``(n_img, Nx, Ny)``.

    ``images[k]`` is image ``k + 1`` stored transposed (columns first), as h5py shows a MATLAB
    ``(Ny, Nx, n_img)`` array. Frames come out as ``(T, H, W)``: rows x columns of the resized screen.
    Internally axis 0 of a stored image is x (screen columns) and axis 1 is y (screen rows).
    """

    def __init__(
        self,
        target_size: Sequence[int] = DEFAULT_TARGET_SIZE,
        screen_shape: Sequence[int] = SCREEN_SHAPE,
        fixation_pixel: Sequence[int] = FIXATION_SCREEN_PIXEL,
        device: str | torch.device | None = None,
    ) -> None:
        height, width = (int(v) for v in target_size)
        if height < 1 or width < 1:
            raise BadDataError(f"target_size must be two positive integers, got {tuple(target_size)}")
        self.target_size = (height, width)
        self.screen_shape = (int(screen_shape[0]), int(screen_shape[1]))
        self.fixation_pixel = (int(fixation_pixel[0]), int(fixation_pixel[1]))
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self._rows = axis_resize(self.screen_shape[0], height)
        self._cols = axis_resize(self.screen_shape[1], width)
        n_edge = len(self._rows.edge_index) + len(self._cols.edge_index)
        # Many outputs with their own kernels (a size that does not divide the screen evenly): gathering their
        # taps would cost more than per-frame products with the resize matrices restricted to the image.
        self.dense = n_edge > _MAX_EDGE_OUTPUTS
        if self.dense:
            logger.info(
                "target size %s does not divide the %s screen evenly (%d outputs with their own kernels): "
                "composing with per-frame matrix products, which is slower",
                self.target_size,
                self.screen_shape,
                n_edge,
            )
            self._row_matrix = torch.as_tensor(
                resize_operator(self.screen_shape[0], height), dtype=torch.float32
            )
            self._col_matrix = torch.as_tensor(
                resize_operator(self.screen_shape[1], width), dtype=torch.float32
            )

    def shifts(self, fixations: np.ndarray, n_images: int, where: str = "fixations") -> np.ndarray:
        """``(F, 3)`` fixations (image 1-based, x, y) -> ``(F, 3)`` int64 (image 0-based, x offset, y offset).

        Screen column ``c`` (0-based) shows image column ``x_offset + c`` and screen row ``r`` shows image row
        ``y_offset + r`` (0-based): image pixel (x, y) lands on screen pixel (400, 300), both 1-based.
        """
        fix = np.asarray(fixations, dtype=np.float64)
        if fix.ndim != 2 or fix.shape[1] != 3:
            raise BadDataError(f"{where}: expected (frames, 3) fixations (image, x, y), received {fix.shape}")
        if not np.isfinite(fix).all():
            raise BadDataError(f"{where}: fixations contain NaN or infinite values")
        rounded = np.rint(fix)
        if not np.allclose(rounded, fix, atol=1e-6):
            logger.warning("%s: fixations are not integers; rounding them to the nearest pixel", where)
        out = rounded.astype(np.int64)
        bad = (out[:, 0] < 1) | (out[:, 0] > n_images)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise BadDataError(
                f"{where}: image index {out[first, 0]} at frame {first} is outside 1..{n_images} "
                f"(the ensemble has {n_images} images)"
            )
        out[:, 0] -= 1
        out[:, 1] -= self.fixation_pixel[1]
        out[:, 2] -= self.fixation_pixel[0]
        return out

    def compose(
        self,
        images: Any,
        fixations: np.ndarray,
        out: np.ndarray | None = None,
        *,
        desc: str = "composing fixation movie",
        where: str = "fixations",
    ) -> np.ndarray:
        """Frames ``(F, H, W)`` float32 for ``(F, 3)`` fixations, written into ``out`` when given.

        ``images`` is an h5py dataset or array ``(n_img, Nx, Ny)``; only the images the fixations use are
        read, a group at a time.
        """
        from tqdm.auto import tqdm

        from openretina_core.files import progress_enabled

        if len(images.shape) != 3:
            raise BadDataError(
                f"{where}: images must be (n_img, Nx, Ny), received shape {tuple(images.shape)}"
            )
        n_images, nx, ny = (int(v) for v in images.shape)
        shifts = self.shifts(fixations, n_images, where)
        n_frames = shifts.shape[0]
        height, width = self.target_size
        if out is None:
            out = np.empty((n_frames, height, width), dtype=np.float32)
        if out.shape != (n_frames, height, width) or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise BadDataError(
                f"out: expected a C-contiguous float32 array {(n_frames, height, width)}, "
                f"received {out.dtype} {out.shape}"
            )
        if n_frames == 0:
            return out
        ax0 = AxisPlan.build(self._cols, nx, self.device)
        ax1 = AxisPlan.build(self._rows, ny, self.device)
        n_used = len(np.unique(shifts[:, 0]))
        group = int(np.clip(_GROUP_BYTES // (16 * ax0.stride * ax1.padded), 1, n_used))
        raw = torch.zeros(
            (group * ax0.stride + ax0.length, ax1.padded), dtype=torch.float32, device=self.device
        )
        out_t = torch.from_numpy(out)
        reader = _ImageReader(images)
        with tqdm(
            total=n_frames, desc=desc, unit="frame", disable=not progress_enabled(), leave=False
        ) as bar:
            for ids, frames, local in image_groups(shifts[:, 0], group):  # the core's grouping by image
                block = torch.from_numpy(np.ascontiguousarray(reader.read(ids)))
                view = raw[: len(ids) * ax0.stride].view(len(ids), ax0.stride, ax1.padded)
                view[:, ax0.length : ax0.length + nx, ax1.length : ax1.length + ny].copy_(block)
                if self.dense:
                    self._dense_frames(raw, ax0, ax1, frames, local, shifts, out_t, bar)
                else:
                    edge_rows = None
                    if len(ax0.edge):  # the raw rows the x-edge outputs of these frames read
                        base = torch.as_tensor(local * ax0.stride, device=self.device)
                        taps = ax0.edge_taps(torch.as_tensor(shifts[frames, 1], device=self.device))
                        edge_rows = torch.unique(taps + base[:, None, None])
                    filtered = self._filter(raw, len(ids), ax0, ax1, edge_rows)
                    self._frames(filtered, ax0, ax1, frames, local, shifts, out_t, bar)
        return out

    @staticmethod
    def _filter(
        raw: torch.Tensor, count: int, ax0: AxisPlan, ax1: AxisPlan, edge_rows: torch.Tensor | None
    ) -> _Filtered:
        """Filter ``count`` stacked images along x (left products on row tiles), then y (right products on
        column tiles). The strided views overlap between batch entries; each entry is an ordinary matrix, so
        nothing is copied. Tiles straddling two images only fill rows that are never read. The y-only filter
        is applied to ``edge_rows`` alone (the raw rows the x-edge outputs read; few for gaze-like fixations)."""
        rows, cols = count * ax0.stride, ax1.padded
        k0, k1 = TILE + ax0.length - 1, TILE + ax1.length - 1
        n_tiles = rows // TILE
        row_tiles = raw.as_strided((n_tiles, k0, cols), (TILE * cols, cols, 1))
        x_only = torch.bmm(ax0.banded.T.expand(n_tiles, TILE, k0), row_tiles).reshape(rows, cols)
        right = ax1.banded.expand(ax1.tiles, k1, TILE)
        both = torch.bmm(x_only.as_strided((ax1.tiles, rows, k1), (TILE, cols, 1)), right)
        y_only = row_map = None
        if edge_rows is not None:
            compact = raw.index_select(0, edge_rows)
            y_only = torch.bmm(compact.as_strided((ax1.tiles, len(edge_rows), k1), (TILE, cols, 1)), right)
            row_map = torch.zeros(raw.shape[0], dtype=torch.long, device=raw.device)
            row_map[edge_rows] = torch.arange(len(edge_rows), device=raw.device)
        return _Filtered(raw, x_only, both, y_only, row_map, rows)

    def _frames(
        self,
        filtered: _Filtered,
        ax0: AxisPlan,
        ax1: AxisPlan,
        frames: np.ndarray,
        local: np.ndarray,
        shifts: np.ndarray,
        out_t: torch.Tensor,
        bar: Any,
    ) -> None:
        """Gather and write every frame of the group, in batches of bounded memory."""
        n_i0, n_e0, n_i1, n_e1 = len(ax0.interior), len(ax0.edge), len(ax1.interior), len(ax1.edge)
        l0, l1 = len(ax0.taps), len(ax1.taps)
        per_frame = 8 * (n_i0 * n_i1 + l0 * n_e0 * n_i1 + l1 * n_e1 * n_i0 + l0 * l1 * n_e0 * n_e1)
        batch = max(1, _BATCH_BYTES // per_frame)
        for start in range(0, len(frames), batch):
            idx = frames[start : start + batch]

            def tensor(values: np.ndarray) -> torch.Tensor:
                return torch.as_tensor(values, dtype=torch.long, device=self.device)

            base = tensor(local[start : start + batch]) * ax0.stride
            result = self._gather(filtered, ax0, ax1, base, tensor(shifts[idx, 1]), tensor(shifts[idx, 2]))
            out_t.index_copy_(0, torch.as_tensor(idx, dtype=torch.long), result.cpu())
            bar.update(len(idx))

    def _dense_frames(
        self,
        raw: torch.Tensor,
        ax0: AxisPlan,
        ax1: AxisPlan,
        frames: np.ndarray,
        local: np.ndarray,
        shifts: np.ndarray,
        out_t: torch.Tensor,
        bar: Any,
    ) -> None:
        """Per-frame products ``C_shifted @ image @ R_shifted.T``, the resize matrices' columns moved with the
        fixation (columns off the screen are 0), one image at a time."""
        height, width = self.target_size
        rows_m, cols_m = self._row_matrix.to(self.device), self._col_matrix.to(self.device)
        per_frame = 4 * (width * ax0.n + height * ax1.n + width * ax1.n)
        batch = max(1, _BATCH_BYTES // per_frame)
        arange0 = torch.arange(ax0.n, device=self.device)
        arange1 = torch.arange(ax1.n, device=self.device)
        for image in np.unique(local):
            top = int(image) * ax0.stride + ax0.length
            pixels = raw[top : top + ax0.n, ax1.length : ax1.length + ax1.n]  # (Nx, Ny), a strided view
            of_image = frames[local == image]
            for start in range(0, len(of_image), batch):
                idx = of_image[start : start + batch]
                sh0 = torch.as_tensor(shifts[idx, 1], device=self.device)
                sh1 = torch.as_tensor(shifts[idx, 2], device=self.device)
                cols = _shifted(cols_m, arange0[None] - sh0[:, None])  # (B, W, Nx)
                rows = _shifted(rows_m, arange1[None] - sh1[:, None])  # (B, H, Ny)
                result = torch.matmul(torch.matmul(cols, pixels), rows.transpose(1, 2)).transpose(1, 2)
                out_t.index_copy_(0, torch.as_tensor(idx, dtype=torch.long), result.contiguous().cpu())
                bar.update(len(idx))

    def _gather(
        self,
        a: _Filtered,
        ax0: AxisPlan,
        ax1: AxisPlan,
        base: torch.Tensor,
        sh0: torch.Tensor,
        sh1: torch.Tensor,
    ) -> torch.Tensor:
        """``(B, H, W)`` frames. ``base`` is each frame's first row in the stacked arrays (image * stride)."""
        cols, rows = ax1.padded, a.rows
        result = torch.empty(
            (sh0.shape[0], ax1.spec.n_out, ax0.spec.n_out), dtype=torch.float32, device=self.device
        )
        u0 = ax0.window_starts(sh0) + base[:, None]  # (B, nI0) rows of the x-filtered arrays
        u1 = ax1.window_starts(sh1)  # (B, nI1) columns of the y-filtered arrays, stored as tiles
        tiled1 = torch.div(u1, TILE, rounding_mode="floor") * (rows * TILE) + u1 % TILE
        # Interior x interior: the doubly filtered images, read on each frame's grid (the core's grid gather).
        _place(result, ax1.select(), ax0.select(), grid_frames(a.both.reshape(-1), tiled1, u0 * TILE))
        if len(ax0.edge):
            # x-edge outputs: their own weights over raw x of the y-filtered images.
            if a.y_only is None or a.row_map is None:
                raise RuntimeError("the y-filtered images are missing")
            taps0 = a.row_map[ax0.edge_taps(sh0) + base[:, None, None]] * TILE  # (B, nE0, taps)
            n_rows = a.y_only.shape[1]
            tiled_rows = torch.div(u1, TILE, rounding_mode="floor") * (n_rows * TILE) + u1 % TILE
            flat = tiled_rows[:, :, None, None] + taps0[:, None]
            values = (a.y_only.reshape(-1).take(flat) * ax0.weights_edge).sum(dim=3)  # (B, nI1, nE0)
            _place(result, ax1.select(), ax0.select(edge=True), values)
        if len(ax1.edge):
            # y-edge outputs: their own weights over raw y of the x-filtered images.
            taps1 = ax1.edge_taps(sh1)  # (B, nE1, taps)
            flat = taps1[..., None] + (u0 * cols)[:, None, None, :]
            values = (a.x_only.reshape(-1).take(flat) * ax1.weights_edge[..., None]).sum(
                dim=2
            )  # (B, nE1, nI0)
            _place(result, ax1.select(edge=True), ax0.select(), values)
        if len(ax0.edge) and len(ax1.edge):
            taps0 = (ax0.edge_taps(sh0) + base[:, None, None]) * cols  # (B, nE0, taps)
            flat = ax1.edge_taps(sh1)[:, :, :, None, None] + taps0[:, None, None]
            weights = ax1.weights_edge[:, :, None, None] * ax0.weights_edge[None, None]
            values = (a.raw.reshape(-1).take(flat) * weights).sum(dim=(2, 4))  # (B, nE1, nE0)
            _place(result, ax1.select(edge=True), ax0.select(edge=True), values)
        return result


def _shifted(matrix: torch.Tensor, screen_index: torch.Tensor) -> torch.Tensor:
    """``(B, n_out, n_img)``: resize-matrix columns at each image pixel's screen position (0 off screen)."""
    valid = (screen_index >= 0) & (screen_index < matrix.shape[1])
    gathered = matrix[:, screen_index.clamp(0, matrix.shape[1] - 1)]  # (n_out, B, n_img)
    return gathered.permute(1, 0, 2) * valid[:, None, :]


def _place(out: torch.Tensor, rows: Any, cols: Any, values: torch.Tensor) -> None:
    """``out[:, rows, cols] = values`` for slices or 1-D index tensors (an outer product of the two)."""
    if isinstance(rows, torch.Tensor) and isinstance(cols, torch.Tensor):
        out[:, rows[:, None], cols[None, :]] = values
    else:
        out[:, rows, cols] = values


def compose_fixation_movie(
    images: Any,
    fixations: np.ndarray,
    target_size: Sequence[int] = DEFAULT_TARGET_SIZE,
    *,
    out: np.ndarray | None = None,
    device: str | torch.device | None = None,
    desc: str = "composing fixation movie",
) -> np.ndarray:
    """Frames ``(F, H, W)`` float32 of a fixation sequence; see :class:`FixationComposer`."""
    return FixationComposer(target_size, device=device).compose(images, fixations, out, desc=desc)
