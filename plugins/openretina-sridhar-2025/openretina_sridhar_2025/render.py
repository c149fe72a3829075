"""Natural-movie frames from the padded images and the fixations, a block of frames per tensor operation.

One frame (datasets.md §5): add the padding to the fixation centre, crop ``(200, 150)`` around it from the
``(350, 300)`` image indexed ``[x, y]``, mirror the y axis when the flag is ``"0"`` (``flip_imgs`` inverts the
rule), transpose to ``(150, 200)`` = (h, w), then take rows ``top .. h - bottom`` and columns
``left .. w - right`` with the ``subsample`` stride: 80 x 90 by default. Every output frame is therefore one
strided window of the transposed image (of its mirrored copy when the frame is mirrored), so a block of frames
is a single indexing of a strided view of the block's images. Frames are rendered in time order, a block at a
time, from the few images the block uses (kept in a bounded cache), so neither the full-resolution crops nor
all images are ever in memory at once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from attrs import define

from openretina_core import BadDataError
from openretina_core.data import image_blocks, load_npy, window_frames
from openretina_sridhar_2025.constants import CROP_SHAPE, PADDED_IMAGE_SHAPE, PADDING, RETINA_CROP
from openretina_sridhar_2025.fixations import Fixations

logger = logging.getLogger(__name__)

_BLOCK_BYTES = 32 << 20  # float32 output frames of one block
_MAX_BLOCK_IMAGES = 128  # distinct images one block may use
_IMAGE_CACHE_BYTES = 256 << 20  # decoded images kept between blocks


@define(frozen=True)
class Geometry:
    """How a fixation becomes a frame: image shape ``(x, y)``, padding, crop ``(img_w, img_h)``, the retina crop
    ``(top, bottom, left, right)`` on the ``(h, w)`` frame, the ``subsample`` stride and ``flip_imgs``."""

    image_shape: tuple[int, int] = PADDED_IMAGE_SHAPE
    padding: int = PADDING
    crop_shape: tuple[int, int] = CROP_SHAPE
    retina_crop: tuple[int, int, int, int] = RETINA_CROP
    subsample: int = 1
    flip_imgs: bool = False

    def __attrs_post_init__(self) -> None:
        if self.subsample < 1:
            raise BadDataError(f"subsample must be a positive integer, got {self.subsample}")
        img_w, img_h = self.crop_shape
        top, bottom, left, right = self.retina_crop
        if min(self.retina_crop) < 0 or top + bottom >= img_h or left + right >= img_w:
            raise BadDataError(f"retina crop {self.retina_crop} leaves nothing of a {img_h} x {img_w} frame")

    @property
    def rows(self) -> np.ndarray:
        """Rows of the ``(h, w)`` crop that the output keeps."""
        top, bottom, _, _ = self.retina_crop
        return np.arange(top, self.crop_shape[1] - bottom, self.subsample)

    @property
    def cols(self) -> np.ndarray:
        """Columns of the ``(h, w)`` crop that the output keeps."""
        _, _, left, right = self.retina_crop
        return np.arange(left, self.crop_shape[0] - right, self.subsample)

    @property
    def output_shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)

    def as_params(self) -> dict[str, object]:
        return {
            "image_shape": list(self.image_shape),
            "padding": self.padding,
            "crop_shape": list(self.crop_shape),
            "retina_crop": list(self.retina_crop),
            "subsample": self.subsample,
            "flip_imgs": self.flip_imgs,
        }

    def check(self, fixations: Fixations, n_images: int, lines: np.ndarray) -> None:
        """Every given line names an existing image and puts the whole crop inside the padded image."""
        image = fixations.image[lines]
        bad = (image < 0) | (image >= n_images)
        if bad.any():
            line = int(lines[np.flatnonzero(bad)[0]])
            raise BadDataError(
                f"{fixations.path}, line {line + 1}: image index {int(fixations.image[line])} is outside the "
                f"image list (0..{n_images - 1}: {n_images} '*_img_*.npy' files)"
            )
        x0, y0 = self.origins(fixations, lines)
        (nx, ny), (img_w, img_h) = self.image_shape, self.crop_shape
        bad = (x0 < 0) | (x0 + img_w > nx) | (y0 < 0) | (y0 + img_h > ny)
        if bad.any():
            line = int(lines[np.flatnonzero(bad)[0]])
            lo_x, hi_x = img_w // 2 - self.padding, nx - img_w + img_w // 2 - self.padding
            lo_y, hi_y = img_h // 2 - self.padding, ny - img_h + img_h // 2 - self.padding
            raise BadDataError(
                f"{fixations.path}, line {line + 1}: centre ({int(fixations.center_x[line])}, "
                f"{int(fixations.center_y[line])}) puts the {img_w} x {img_h} crop outside the padded "
                f"{nx} x {ny} image; centres must lie in x {lo_x}..{hi_x}, y {lo_y}..{hi_y}"
            )

    def origins(self, fixations: Fixations, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(x0, y0)``: the crop's first image column (x) and row (y) for each line."""
        img_w, img_h = self.crop_shape
        x0 = fixations.center_x[lines] + self.padding - img_w // 2
        y0 = fixations.center_y[lines] + self.padding - img_h // 2
        return x0, y0

    def mirrored(self, fixations: Fixations, lines: np.ndarray) -> np.ndarray:
        """Whether each frame is mirrored: flag ``"0"``, or flag ``"1"`` with ``flip_imgs``."""
        return (fixations.flag[lines] == 0) != self.flip_imgs


class ImageBank:
    """The sorted image files, decoded on demand and kept, transposed to ``(y, x)``, in a cache bounded by bytes
    (least recently used evicted first)."""

    def __init__(self, paths: Sequence[Path], shape: tuple[int, int], cache_bytes: int = _IMAGE_CACHE_BYTES):
        self.paths = list(paths)
        self.shape = shape
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self.reads = 0

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` as stored, transposed: ``(y, x)``."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        path = self.paths[index]
        array = load_npy(path, "a padded image (y, x)")
        self.reads += 1
        if array.shape != self.shape or array.dtype.kind not in "uif":
            raise BadDataError(
                f"{path}: image of shape {array.shape} and dtype {array.dtype}, expected a numeric "
                f"{self.shape} array indexed [x, y]"
            )
        array = np.ascontiguousarray(array.T)
        self._cache[index] = array
        self._bytes += array.nbytes
        while self._bytes > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._bytes -= old.nbytes
        return array

    def all_uint8(self) -> bool:
        """Whether every image file holds uint8 values (read from the headers; nothing is decoded)."""
        return all(_header_dtype(path) == np.uint8 for path in self.paths)

    def stack(self, indices: np.ndarray) -> torch.Tensor:
        """``(2 G, y, x)``: the ``G`` images transposed, then the same mirrored along y. uint8 images stay uint8
        (a quarter of the bytes to gather); any other dtype becomes float32."""
        images = [self.image(int(i)) for i in indices]
        dtype = np.uint8 if all(a.dtype == np.uint8 for a in images) else np.float32
        out = np.empty((2 * len(images), *images[0].shape), dtype=dtype)
        for slot, image in enumerate(images):
            out[slot] = image
            out[len(images) + slot] = image[::-1]
        return torch.from_numpy(out)


class FramePlan:
    """Where every frame of ``lines`` reads its image (checked once): the image, whether it is mirrored, and
    the window origin in the transposed (or mirrored) image. ``render(start, stop, out)`` renders frames
    ``start..stop`` of ``lines`` into ``out``, a block at a time; consecutive calls (a streamed store entry)
    reuse the bank's decoded images."""

    def __init__(
        self,
        bank: ImageBank,
        fixations: Fixations,
        lines: np.ndarray,
        geometry: Geometry,
        device: torch.device | None = None,
    ) -> None:
        geometry.check(fixations, len(bank), lines)
        self.bank, self.geometry = bank, geometry
        self.device = device or torch.device("cpu")
        self.shape = geometry.output_shape
        _, ny = geometry.image_shape
        row0, col0 = int(geometry.rows[0]), int(geometry.cols[0])
        x0, y0 = geometry.origins(fixations, lines)
        self.mirrored = geometry.mirrored(fixations, lines)
        self.image = fixations.image[lines]
        # Window origins in the transposed stack: rows (y) of the plain or mirrored copy, columns (x).
        self.row = np.where(self.mirrored, ny - y0 - geometry.crop_shape[1] + row0, y0 + row0)
        self.col = x0 + col0

    def __len__(self) -> int:
        return len(self.image)

    def render(
        self, start: int, stop: int, out: np.ndarray, progress: Callable[[int], object] | None = None
    ) -> np.ndarray:
        """Frames ``start..stop`` into ``out`` (``(stop - start, H, W)`` or with a channel axis of 1): float32
        image values / 255, or, for a uint8 ``out``, the uint8 image values themselves (the compact store; the
        batches divide by 255 as this does). Per block, one strided-window gather of the block's images (the
        shared ``window_frames``), then one conversion into ``out``."""
        return self._render(slice(start, stop), stop - start, out, progress)

    def render_rows(self, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Frames ``rows`` (any frame numbers, in any order: e.g. a batch's chunks) into ``out``, as ``render``."""
        rows = np.asarray(rows, dtype=np.int64)
        return self._render(rows, len(rows), out, None)

    def _render(
        self,
        lines: slice | np.ndarray,
        count: int,
        out: np.ndarray,
        progress: Callable[[int], object] | None,
    ) -> np.ndarray:
        height, width = self.shape
        raw = out.dtype == np.uint8
        target_all = torch.from_numpy(out).reshape(count, height, width)
        step = (self.geometry.subsample, self.geometry.subsample)
        max_frames = max(1, _BLOCK_BYTES // (4 * height * width))
        image, mirrored = self.image[lines], self.mirrored[lines]
        row, col = self.row[lines], self.col[lines]
        for b0, b1 in image_blocks(image, max_frames, _MAX_BLOCK_IMAGES):
            used, local = np.unique(image[b0:b1], return_inverse=True)
            stack = self.bank.stack(used).to(self.device)  # (2G, y, x)
            slot = local.reshape(-1) + len(used) * mirrored[b0:b1]
            frames = window_frames(stack, slot, row[b0:b1], col[b0:b1], self.shape, step)
            if raw and frames.dtype != torch.uint8:
                raise BadDataError(
                    f"{self.bank.paths[int(used[0])].parent}: uint8 frames asked of non-uint8 images"
                )
            target = target_all[b0:b1]
            if frames.is_cpu:  # numpy, single-threaded: no intra-op threads to contend for (2-3x under load)
                if raw:
                    np.copyto(target.numpy(), frames.numpy())
                else:  # float32 true division of the image values, as the decode of uint8 frames does
                    np.divide(frames.numpy(), np.float32(255.0), out=target.numpy(), dtype=np.float32)
            else:
                target.copy_(frames)  # to the CPU (and float32) in one pass
                if not raw:
                    target.div_(255.0)
            if progress is not None:
                progress(b1 - b0)
        return out


def render_frames(
    bank: ImageBank,
    fixations: Fixations,
    lines: np.ndarray,
    geometry: Geometry,
    out: np.ndarray,
    *,
    device: torch.device | None = None,
    progress: Callable[[int], object] | None = None,
) -> np.ndarray:
    """Frames ``(len(lines), H, W)`` float32 (image values / 255) for the given fixation lines, into ``out``.

    Every frame is a plain window of its image's transposed or mirrored copy, so a block of frames is one
    indexing of a strided view holding every window of its images: no per-frame work, one pass over the output.
    """
    height, width = geometry.output_shape
    if out.shape != (len(lines), height, width) or out.dtype != np.float32:
        raise BadDataError(
            f"out: expected float32 {(len(lines), height, width)}, received {out.dtype} {out.shape}"
        )
    return FramePlan(bank, fixations, lines, geometry, device).render(0, len(lines), out, progress)


def _header_dtype(path: Path) -> np.dtype:
    """The dtype in a ``.npy`` file's header, read from its first bytes (a quarter of ``load_npy``'s mapping
    time, 600 images: 0.16 s -> 0.04 s); a file whose header cannot be read goes through ``load_npy``, whose
    error names the file."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                _, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                _, _, dtype = np.lib.format.read_array_header_2_0(handle)
        return np.dtype(dtype)
    except (OSError, ValueError, EOFError, TypeError, SyntaxError, UnicodeDecodeError):
        return load_npy(path, "a padded image (y, x)", mmap_mode="r").dtype


def image_files(folder: Path, mark: str) -> list[Path]:
    """The frame files of ``folder`` in sorted name order (the order fixation image indices refer to)."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"image folder {str(folder)!r} does not exist (expected the padded '*{mark}*.npy' files)"
        )
    paths = sorted(p for p in folder.iterdir() if mark in p.name and p.name.endswith(".npy"))
    if not paths:
        raise FileNotFoundError(f"image folder {str(folder)!r} holds no '*{mark}*.npy' files")
    return paths
