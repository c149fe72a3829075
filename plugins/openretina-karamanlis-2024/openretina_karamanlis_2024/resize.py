"""Torch's antialiased bilinear resize along one axis, as windows: a shared interior kernel plus edge windows.

``torch.nn.functional.interpolate(..., mode="bilinear", antialias=True, align_corners=False)`` is separable,
``out = R @ image @ C.T``. Each row of ``R`` is a window of weights; for an integer downscale factor every
window away from the border is the same kernel at a regular offset, and the border windows are that kernel
truncated and renormalised. The composer exploits exactly this split.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from attrs import define

from openretina_core import BadDataError

TILE = 64  # output samples per banded-matrix tile: large enough for BLAS, small enough to waste little


def resize_operator(n_in: int, n_out: int) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix of torch's antialiased bilinear resize along one axis (float64).

    Obtained by resizing an identity matrix, so it is torch's own arithmetic, not a re-derivation.
    """
    eye = torch.eye(n_in, dtype=torch.float64)[None, None]
    resized = F.interpolate(eye, size=(n_out, n_in), mode="bilinear", antialias=True, align_corners=False)
    return resized[0, 0].numpy()


@define(frozen=True, eq=False)
class AxisResize:
    """Output ``o`` reads ``weights[o]`` at inputs ``starts[o] + j``; ``interior`` outputs share ``kernel``."""

    n_in: int
    n_out: int
    starts: np.ndarray  # (n_out,) int64
    weights: np.ndarray  # (n_out, L) float64
    kernel: np.ndarray  # (L,) float64
    interior: np.ndarray  # (n_out,) bool

    @property
    def length(self) -> int:
        return int(self.weights.shape[1])

    @property
    def interior_index(self) -> np.ndarray:
        return np.flatnonzero(self.interior)

    @property
    def edge_index(self) -> np.ndarray:
        return np.flatnonzero(~self.interior)


@lru_cache(maxsize=16)
def axis_resize(n_in: int, n_out: int) -> AxisResize:
    """Split the resize along one axis into the most common window (interior) and the others (edges)."""
    operator = resize_operator(n_in, n_out)
    nonzero = operator != 0
    if not nonzero.any(axis=1).all():
        raise BadDataError(f"resize {n_in} -> {n_out}: some output has no input weight")
    starts = nonzero.argmax(axis=1)
    ends = n_in - nonzero[:, ::-1].argmax(axis=1)
    length = int((ends - starts).max())
    weights = np.zeros((n_out, length))
    for o in range(n_out):
        stop = min(n_in, starts[o] + length)
        weights[o, : stop - starts[o]] = operator[o, starts[o] : stop]
    keys = [tuple(np.round(w, 12)) for w in weights]
    kernel = np.asarray(max(set(keys), key=keys.count), dtype=np.float64)
    interior = np.array([np.allclose(w, kernel, rtol=0, atol=1e-12) for w in weights])
    return AxisResize(n_in, n_out, starts.astype(np.int64), weights, kernel, interior)


def banded(kernel: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(TILE + L - 1, TILE)`` matrix M with ``M[t + j, t] = kernel[j]``: one tile of a correlation."""
    length = kernel.shape[0]
    matrix = np.zeros((TILE + length - 1, TILE), dtype=np.float32)
    for t in range(TILE):
        matrix[t : t + length, t] = kernel
    return torch.from_numpy(matrix).to(device)


@define(frozen=True, eq=False)
class AxisPlan:
    """One axis of the composition on the device, for images ``n`` pixels long along it.

    Each image sits in a zero-padded buffer at offset ``length``. A filtered array holds ``filtered`` window
    starts, shifted by ``length``: index 0 and every index past ``n + length`` read only zeros, so clamping an
    index into the array turns "off the image" into 0 without masks. ``stride`` (a multiple of TILE) is the
    per-image extent along this axis when several images are stacked.
    """

    spec: AxisResize
    n: int
    tiles: int
    interior: torch.Tensor  # (nI,) output indices
    edge: torch.Tensor  # (nE,)
    starts_interior: torch.Tensor  # (nI,)
    starts_edge: torch.Tensor  # (nE,)
    weights_edge: torch.Tensor  # (nE, L_edge) float32
    taps: torch.Tensor  # (L_edge,)
    banded: torch.Tensor  # (TILE + L - 1, TILE)
    interior_slice: slice | None  # the interior outputs as a slice, when they are contiguous

    @classmethod
    def build(cls, spec: AxisResize, n: int, device: torch.device) -> AxisPlan:
        def long(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, dtype=torch.long, device=device)

        inner, edge = spec.interior_index, spec.edge_index
        contiguous = len(inner) > 0 and inner[-1] - inner[0] + 1 == len(inner)
        # Edge windows are truncated kernels: gather only as many taps as the longest of them uses.
        used = np.flatnonzero(np.abs(spec.weights[edge]).sum(axis=0)) if len(edge) else np.zeros(1, np.int64)
        edge_length = int(used[-1]) + 1 if len(used) else 1
        return cls(
            spec=spec,
            n=n,
            tiles=math.ceil((n + spec.length + 1) / TILE),
            interior=long(inner),
            edge=long(edge),
            starts_interior=long(spec.starts[inner]),
            starts_edge=long(spec.starts[edge]),
            weights_edge=torch.as_tensor(
                spec.weights[edge, :edge_length], dtype=torch.float32, device=device
            ),
            taps=long(np.arange(edge_length)),
            banded=banded(spec.kernel, device),
            interior_slice=slice(int(inner[0]), int(inner[-1]) + 1) if contiguous else None,
        )

    @property
    def length(self) -> int:
        return self.spec.length

    @property
    def filtered(self) -> int:
        """Window starts held by a filtered array along this axis."""
        return self.tiles * TILE

    @property
    def padded(self) -> int:
        """Raw pixels held by the zero-padded image buffer along this axis."""
        return self.tiles * TILE + self.spec.length - 1

    @property
    def stride(self) -> int:
        return TILE * math.ceil(self.padded / TILE)

    def window_starts(self, shift: torch.Tensor) -> torch.Tensor:
        """``(B, nI)`` filtered-array indices of the interior outputs' windows for per-frame shifts ``(B,)``."""
        return (shift[:, None] + self.starts_interior[None] + self.length).clamp_(0, self.filtered - 1)

    def edge_taps(self, shift: torch.Tensor) -> torch.Tensor:
        """``(B, nE, L_edge)`` padded-buffer indices of every tap of the edge outputs."""
        pos = shift[:, None, None] + self.starts_edge[None, :, None] + self.taps[None, None, :] + self.length
        return pos.clamp_(0, self.padded - 1)

    def select(self, edge: bool = False) -> slice | torch.Tensor:
        """The output positions of one block: a slice when contiguous (cheap assignment), else indices."""
        if not edge and self.interior_slice is not None:
            return self.interior_slice
        return self.edge if edge else self.interior
