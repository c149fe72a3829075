"""The pool of batch buffers: a buffer is handed out again only once nothing references it, so assembling a
batch on the CPU does not pay for fresh pages each time (``gather.py`` fills them).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import torch
from torch.utils.data import get_worker_info

_STORAGE_USE_COUNT = getattr(torch._C, "_storage_Use_Count", None)


def _storage_handle(tensor: torch.Tensor) -> int:
    """The address of a tensor's storage; valid for as long as the tensor holds that storage."""
    return int(tensor.untyped_storage()._cdata)


def _unreferenced_count() -> int | None:
    """The use count of a storage held by exactly one tensor, or None where torch does not expose counts."""
    if _STORAGE_USE_COUNT is None:
        return None
    probe = torch.empty(1)
    return int(_STORAGE_USE_COUNT(_storage_handle(probe)))


_UNREFERENCED = _unreferenced_count()


class BatchBufferPool:
    """Reuses batch buffers that nobody references any more, so assembling a batch does not pay for fresh
    pages (on the CPU, faulting in a new buffer costs about as much as the gather itself).

    A buffer is handed out again only when its storage has no other reference (no batch, view or pending
    copy points at it), so keeping batches is always safe: the pool then allocates new buffers. One pool is
    shared by every dataset of the process (round-robin training holds one batch at a time). Pooling is off
    inside DataLoader workers (their batches are handed over through shared memory) and off the CPU.
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.buffers: list[torch.Tensor] = []  # oldest first; at most ``size``
        # Per (shape, dtype, inference mode): [buffer, its storage handle, its use count when free, the views
        # of other shapes kept with it to write through]. The pool's own reference keeps each handle valid.
        self._by_key: dict[tuple[tuple[int, ...], torch.dtype, bool], list[list[Any]]] = {}
        self._lock = threading.Lock()

    @property
    def tracks_references(self) -> bool:
        """Whether this torch tells a buffer's references (without that, nothing is pooled)."""
        return _STORAGE_USE_COUNT is not None

    def take(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
        """A free buffer of ``shape`` (a fresh view of it, so it counts as referenced at once), or None."""
        if _STORAGE_USE_COUNT is None or not like.is_cpu:
            return None
        got = self.take_base(shape, like.dtype, shape, contiguous_strides(shape))
        return None if got is None else got[1]

    def take_base(
        self,
        shape: tuple[int, ...],
        dtype: torch.dtype,
        size: tuple[int, ...],
        stride: tuple[int, ...],
        write: tuple[int, ...] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """A free CPU buffer of ``shape`` to write into (``write``: the view of that shape, kept with the
        buffer) and, made under the lock so that it counts as referenced at once, the batch: its view
        ``as_strided(size, stride)``; or None. One tensor is made per batch (the batch), not also a view to
        write through; the buffers of one shape serve every write shape (window blocks and row gathers)."""
        if _STORAGE_USE_COUNT is None or get_worker_info() is not None:
            return None
        # A buffer made under torch.inference_mode() (Lightning's evaluation) is an inference tensor, which
        # cannot be written outside it: each mode has its own buffers.
        key = (shape, dtype, torch.is_inference_mode_enabled())
        with self._lock:
            candidates = self._by_key.get(key)
            if candidates is None:
                candidates = self._by_key[key] = []
            for entry in candidates:
                if _STORAGE_USE_COUNT(entry[1]) == entry[2]:
                    return self._writable(entry, write), entry[0].as_strided(size, stride)
            buffer = torch.empty(shape, dtype=dtype)
            if len(self.buffers) >= self.size:
                evicted = self.buffers.pop(0)
                for same in self._by_key.values():
                    same[:] = [entry for entry in same if entry[0] is not evicted]
            self.buffers.append(buffer)
            entry = [buffer, _storage_handle(buffer), _UNREFERENCED, {}]
            candidates.append(entry)
            return self._writable(entry, write), buffer.as_strided(size, stride)

    @staticmethod
    def _writable(entry: list[Any], write: tuple[int, ...] | None) -> torch.Tensor:
        if write is None:
            return entry[0]
        view = entry[3].get(write)
        if view is None:
            view = entry[3][write] = leading_view(entry[0], write)
            entry[2] += 1  # the kept view holds the storage too
        return view


BATCH_BUFFERS = BatchBufferPool()


def leading_view(buffer: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """The first ``prod(shape)`` elements of a contiguous buffer, viewed as ``shape`` (a group buffer's last,
    partly filled group writes into its beginning)."""
    count = math.prod(shape)
    return buffer.view(shape) if count == buffer.numel() else buffer.view(-1)[:count].view(shape)


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for extent in reversed(shape):
        strides.append(step)
        step *= max(1, extent)
    return tuple(reversed(strides))
