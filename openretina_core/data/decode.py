"""Compact batches to float32 while a batch is assembled: one subtract and one divide per batch, on the CPU into
a pooled float32 buffer, or on the GPU after the compact batch was transferred (the bus carries the published
bytes, 4x fewer than float32 for uint8).

The operations are the float32 path's (convert, subtract, divide, each rounded to float32; the channel values
are tensors, never Python scalars, so no device replaces the division by a reciprocal), so decoded batches
equal the float32 path's batches bit for bit.
"""

from __future__ import annotations

import torch

from openretina_core.data.batch_buffers import BATCH_BUFFERS
from openretina_core.data.compact import StimulusMap
from openretina_core.data.copy_threads import DECODE_THREADS

DECODE_BLOCK_BYTES = 4 << 20  # float32 output per block: stays in the CPU cache between subtract and divide


class BatchDecoder:
    """Applies one :class:`StimulusMap` to batches of any layout; the channel tensors are made once per
    (device, layout) and kept."""

    def __init__(self, stimulus_map: StimulusMap, channels: int) -> None:
        self.stimulus_map = stimulus_map
        self.channels = int(channels)
        sub, div = stimulus_map.channel_values(self.channels)
        self._sub = torch.from_numpy(sub.copy())
        self._div = torch.from_numpy(div.copy())
        self._cache: dict[tuple[torch.device, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def _values(self, device: torch.device, trailing: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (device, trailing)
        values = self._cache.get(key)
        if values is None:
            shape = (self.channels,) + (1,) * trailing
            values = self._cache[key] = (
                self._sub.reshape(shape).to(device),
                self._div.reshape(shape).to(device),
            )
        return values

    def decode(self, raw: torch.Tensor, channel_dim: int, pooled: bool = True) -> torch.Tensor:
        """``raw``'s float32 values in a new tensor of the same shape and layout (a batch buffer from the pool
        on the CPU, unless ``pooled`` is false: whole movies must not stay in the pool); ``channel_dim`` counts
        from the front (e.g. 2 for ``(B, T, C, H, W)``)."""
        sub, div = self._values(raw.device, raw.dim() - channel_dim - 1)
        out: torch.Tensor | None = None
        if pooled and raw.is_contiguous():
            out = BATCH_BUFFERS.take(tuple(raw.shape), sub)
        if out is None:
            out = torch.empty_like(raw, dtype=torch.float32)
        # On the CPU in blocks along the first axis, so the divide finds the subtract's output in the cache:
        # one pass over memory instead of three (measured: 19 ms -> 5 ms for a 32 MB batch, as fast as
        # copying the float32 batch). A batch of one block (most batches) is decoded whole: no block views.
        if not raw.is_cpu:
            torch.sub(raw, sub, out=out)
            return out.div_(div)
        # On the CPU with the intra-op threads measured for its size (as batch copies are): elementwise ops over
        # two threads stall when another process holds a core (measured: 145-168 ms per batch under load vs
        # 19-28 ms on one thread).
        return DECODE_THREADS.run(out.numel() * 4, raw.device, lambda: _decode_cpu(raw, out, sub, div))


def _decode_cpu(raw: torch.Tensor, out: torch.Tensor, sub: torch.Tensor, div: torch.Tensor) -> torch.Tensor:
    if raw.dim() == 0 or raw.numel() * 4 <= DECODE_BLOCK_BYTES:
        torch.sub(raw, sub, out=out)
        return out.div_(div)
    row = out[0].numel() * 4 if raw.shape[0] else 1
    step = max(1, DECODE_BLOCK_BYTES // max(1, row))
    for start in range(0, raw.shape[0], step):
        block = out[start : start + step]
        torch.sub(raw[start : start + step], sub, out=block)
        block.div_(div)
    return out
