"""Batch assembly: whole chunks of a stored tensor gathered into pooled buffers with one copy per batch.

A :class:`ChunkGatherer` turns a pass's start positions into index work planned once (stored rows, or window
starts when the index map keeps chunks consecutive) and fills buffers from :data:`BATCH_BUFFERS`, which reuses a
buffer once nothing references it any more.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np
import torch

from openretina_core.data.batch_buffers import BATCH_BUFFERS, contiguous_strides, leading_view
from openretina_core.data.copy_threads import COPY_THREADS
from openretina_core.data.file_rows import FileRows


def as_index_tensor(index: Any) -> torch.Tensor | None:
    """An index map as a ``long`` tensor (``None`` stays ``None``: the identity map)."""
    if index is None:
        return None
    return torch.as_tensor(np.asarray(index), dtype=torch.long)


def split_rows(tensor: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
    """``tensor.split(size)`` (views of ``size`` rows, the last one shorter), made by ``unbind`` of a reshaped
    view: about twice as fast for the few hundred views a pass of small batches needs."""
    count = tensor.shape[0]
    full = count // size
    if not full:
        return (tensor,) if count else ()
    head = tensor if count == full * size else tensor[: full * size]
    shape = (full, size, *tensor.shape[1:])
    # (``view`` where it can: ``unflatten`` goes through Python code that costs ~100 us with cold caches)
    views = (head.view(shape) if head.is_contiguous() else head.unflatten(0, (full, size))).unbind()
    return (*views, tensor[full * size :]) if count > full * size else views


def _as_numpy(tensor: torch.Tensor) -> np.ndarray | None:
    """A CPU tensor's values as a numpy array sharing its memory, or None (another device, a tensor that
    needs grad, a dtype numpy lacks such as bfloat16)."""
    if not tensor.is_cpu or tensor.requires_grad:
        return None
    try:
        return tensor.numpy()
    except TypeError:
        return None


def permuted_layout(shape: tuple[int, ...], order: tuple[int, ...] | None) -> tuple[tuple[int, ...], ...]:
    """``(size, stride)`` of ``torch.empty(shape).permute(order)`` (``order`` None: the contiguous layout)."""
    strides = contiguous_strides(shape)
    if order is None:
        return shape, strides
    return tuple(shape[d] for d in order), tuple(strides[d] for d in order)


def consecutive_starts(index: np.ndarray | None, chunk: int) -> np.ndarray | None:
    """For each start position, whether its ``chunk`` positions map to consecutive stored rows (``None``: all
    do, the identity map). Splits and clip orders move whole clips, so nearly every chunk qualifies."""
    if index is None:
        return None
    breaks = np.concatenate([[0], np.cumsum(np.diff(index) != 1)])
    return breaks[chunk - 1 :] == breaks[: len(index) - chunk + 1]


# Measured on the project's 2-core machine class: block copies of whole chunks beat per-row copies for small
# stored rows (e.g. 2 x 18 x 16 frames: ~10 % faster) and lose for large ones (50 x 50 frames: ~15 % slower,
# torch's row loop is already memcpy-bound there), so windows are used up to this row size.
WINDOW_MAX_ROW_BYTES = 8192

# Targets of a whole pass up to this size are gathered in one copy when the pass starts (a one-image batch's
# 16 x 40 responses are 2.5 KB: their copy takes 2 us, the bookkeeping of a pooled per-batch copy 4 us more).
PASS_GATHER_MAX_BYTES = 1 << 20


# Batches up to this size are copied several at a time (``ChunkGatherer.fetch_groups``): a copy's bookkeeping
# (a pooled buffer, a batch tensor, a dispatch: ~3 us) is about a tenth of a one-image batch's copy. Groups of up
# to ``GROUP_MAX_BATCHES`` batches and ``GROUP_MAX_BYTES``: two groups in flight stay within a last-level cache.
GROUP_MAX_BATCH_BYTES = 1 << 20
GROUP_MAX_BYTES = 3 << 20
GROUP_MAX_BATCHES = 4


class ChunkGatherer:
    """Gathers chunks of ``chunk`` consecutive sequence positions from a stored tensor ``(T, ...)``, through an
    optional index map from sequence position to stored row.

    Everything that can be worked out once is: the index map and which starts map to consecutive stored rows
    are kept as host arrays (a few microseconds of numpy per batch, and no device synchronisation), and a
    window view of the source makes every chunk one contiguous row, so a batch of consecutive chunks is a
    single ``index_select`` of ``B`` long rows (one block copy per chunk, not one per frame) where stored rows
    are small (see ``WINDOW_MAX_ROW_BYTES``).
    """

    def __init__(
        self, source: torch.Tensor, index: torch.Tensor | None, chunk: int, file_rows: FileRows | None = None
    ) -> None:
        self.chunk = int(chunk)
        self._index = index.cpu().numpy() if index is not None else None
        self._runs = consecutive_starts(self._index, self.chunk)
        if file_rows is not None and (
            file_rows.shape != tuple(source.shape) or file_rows.dtype.itemsize != source.element_size()
        ):
            raise ValueError(
                f"{file_rows.path}: holds {file_rows.shape}, the source tensor is {tuple(source.shape)}"
            )
        self.file_rows = file_rows  # read chunks from this file instead of the mapped tensor (on the CPU)
        self.bind(source)

    def bind(self, source: torch.Tensor) -> None:
        """(Re)attach the stored tensor, e.g. after it moved to another device."""
        self.source = source
        self.rest = tuple(source.shape[1:])
        self._windows: torch.Tensor | None = None
        self._pooled = source.is_cpu  # batch buffers come from BATCH_BUFFERS
        # The source as a numpy array, for numpy's copies (a CPU tensor numpy can read: not one that needs grad).
        self._host = _as_numpy(source)
        self._device = source.device
        # (index length, windows, order) -> (buffer shape, batch size, batch strides, bytes copied)
        self._layouts: dict[tuple[int, bool, tuple[int, ...] | None], tuple[Any, ...]] = {}
        row = int(np.prod(self.rest, dtype=np.int64))
        self._row_bytes = row * source.element_size()
        if (
            source.is_contiguous()
            and source.shape[0] >= self.chunk
            and row * source.element_size() <= WINDOW_MAX_ROW_BYTES
        ):
            self._windows = source.reshape(-1).as_strided(
                (source.shape[0] - self.chunk + 1, self.chunk * row), (row, 1)
            )

    @property
    def reads_file(self) -> bool:
        return self.file_rows is not None and self.source.device.type == "cpu"

    @property
    def _chunks_whole(self) -> bool:
        """Whether a chunk of consecutive stored rows can be fetched in one piece (a window, or one read)."""
        return self._windows is not None or self.reads_file

    def plans_like(self, other: ChunkGatherer) -> bool:
        """Whether ``other.plan`` would return exactly what ``self.plan`` returns (same index map, same
        window availability, same device), so one plan serves both."""
        if self.chunk != other.chunk or self.source.device != other.source.device:
            return False
        if self._chunks_whole != other._chunks_whole and self.chunk != 1:
            return False  # (chunks of one position: a window start is the stored row, so both plans agree)
        if self._index is None or other._index is None:
            return self._index is None and other._index is None
        return self._index is other._index or np.array_equal(self._index, other._index)

    def _as_index(self, values: np.ndarray) -> torch.Tensor:
        index = torch.from_numpy(np.ascontiguousarray(values, dtype=np.int64))
        return index if self._pooled else index.to(self._device)  # (pooled: the source is on the CPU)

    def _stored(self, positions: np.ndarray) -> np.ndarray:
        """Stored row of each sequence position (numpy)."""
        return self._index[positions] if self._index is not None else positions

    def _chunk_positions(self, starts: np.ndarray) -> np.ndarray:
        """Every sequence position of the chunks starting at ``starts``, chunk after chunk."""
        return starts if self.chunk == 1 else (starts[:, None] + np.arange(self.chunk)).reshape(-1)

    def stored_rows(self, positions: np.ndarray) -> torch.Tensor:
        """Stored row of each sequence position, as an index tensor on the source's device."""
        return self._as_index(self._stored(positions))

    def plan(self, starts: np.ndarray, batch_size: int) -> list[tuple[bool, torch.Tensor]]:
        """How to fetch each batch of ``batch_size`` consecutive entries of ``starts``: ``(True, window rows)``
        when every chunk of the batch is consecutive in storage, else ``(False, stored rows of every
        position)``. Worked out for all batches at once, so a batch costs only its copies."""
        count = len(starts)
        if count == 0:
            return []
        bounds = range(0, count, batch_size)
        whole: np.ndarray
        if not self._chunks_whole:
            whole = np.zeros(len(bounds), dtype=bool)
        elif self._runs is None:
            whole = np.ones(len(bounds), dtype=bool)
        else:
            broken = np.zeros(len(bounds) * batch_size, dtype=bool)
            broken[:count] = ~self._runs[starts]
            whole = np.logical_not(broken.reshape(len(bounds), batch_size).any(axis=1))
        chunk = self.chunk
        # Every batch's index is a view of one index tensor, all made in one call (a Python slice per batch
        # costs as much as the rest of a one-image batch's bookkeeping).
        firsts: tuple[torch.Tensor, ...] = ()
        rows: tuple[torch.Tensor, ...] = ()
        all_whole, none_whole = bool(whole.all()), not whole.any()
        if not none_whole:  # window starts: the stored row of each chunk's first position
            firsts = split_rows(self.stored_rows(starts), batch_size)
        if not all_whole:  # stored rows of every position
            rows = split_rows(self.stored_rows(self._chunk_positions(starts)), batch_size * chunk)
        if all_whole:
            return list(zip(itertools.repeat(True), firsts))
        if none_whole:
            return list(zip(itertools.repeat(False), rows))
        flags = whole.tolist()
        return [(True, firsts[i]) if is_whole else (False, rows[i]) for i, is_whole in enumerate(flags)]

    def fetch(self, whole: bool, index: torch.Tensor, order: tuple[int, ...] | None = None) -> torch.Tensor:
        """``(B, chunk, ...)`` for one planned batch (its dimensions permuted by ``order`` if given, as a view),
        into a reused buffer when one is free. The copy runs with the intra-op threads :data:`COPY_THREADS`
        chooses for its size (file reads: the calling thread). Per batch this makes one tensor (the batch),
        copies once, and looks its layout up in a per-gatherer table."""
        if self.reads_file:
            chunks = self._read(whole, index)
            return chunks if order is None else chunks.permute(order)
        windows = self._windows if whole else None
        key = (index.shape[0], windows is not None, order)
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = self._layout(*key)
        shape, write, size, stride, nbytes = layout
        got = BATCH_BUFFERS.take_base(shape, self.source.dtype, size, stride, write) if self._pooled else None
        out, batch = got if got is not None else self._unpooled(shape, write, size, stride)
        source = self.source if windows is None else windows
        COPY_THREADS.run(nbytes, self._device, lambda: torch.index_select(source, 0, index, out=out))
        return batch

    def fetch_all(
        self, steps: list[tuple[bool, torch.Tensor]], order: tuple[int, ...] | None = None
    ) -> Iterator[torch.Tensor]:
        """The batches of planned ``steps`` in order, each as ``fetch(whole, index, order)`` makes it, with the
        per-batch lookups done once for the pass (what is left per batch: a pooled buffer, a copy, a view).

        A ``map``, not a generator: between steps it holds no batch (a suspended generator keeps its locals,
        and a cycler keeps one suspended pass per session, so held buffers would defeat the pool)."""
        if self.reads_file or not self._pooled:
            return (self.fetch(whole, index, order) for whole, index in steps)
        source, windows, dtype, device = self.source, self._windows, self.source.dtype, self._device
        layouts, take = self._layouts, BATCH_BUFFERS.take_base

        def one(step: tuple[bool, torch.Tensor]) -> torch.Tensor:
            whole, index = step
            blocks = whole and windows is not None
            key = (index.shape[0], blocks, order)
            layout = layouts.get(key)
            if layout is None:
                layout = layouts[key] = self._layout(*key)
            shape, write, size, stride, nbytes = layout
            got = take(shape, dtype, size, stride, write)
            out, batch = got if got is not None else self._unpooled(shape, write, size, stride)
            rows = windows if blocks and windows is not None else source
            if torch.get_num_threads() <= 1:  # what COPY_THREADS.run does then, without its call
                torch.index_select(rows, 0, index, out=out)
            else:
                COPY_THREADS.run(nbytes, device, partial(torch.index_select, rows, 0, index, out=out))
            return batch

        return map(one, steps)

    def can_group(self) -> bool:
        """Whether :meth:`fetch_groups` applies: batches copied on the CPU from the mapped tensor into pooled
        buffers."""
        return self._pooled and not self.reads_file and BATCH_BUFFERS.tracks_references

    def group_size(self, batch_size: int) -> int:
        """How many batches of ``batch_size`` chunks one copy should fill: as many as fit in
        ``GROUP_MAX_BYTES`` (at most ``GROUP_MAX_BATCHES``), 1 for batches too large to gain from it."""
        batch_bytes = batch_size * self.chunk * self._row_bytes
        if not self.can_group() or batch_bytes > GROUP_MAX_BATCH_BYTES:
            return 1
        return max(1, min(GROUP_MAX_BATCHES, GROUP_MAX_BYTES // max(1, batch_bytes)))

    def fetch_groups(
        self,
        steps: list[tuple[bool, torch.Tensor]],
        batch_size: int,
        group: int,
        order: tuple[int, ...] | None = None,
    ) -> Iterator[torch.Tensor]:
        """The batches of ``steps`` planned ``group`` batches at a time (``plan(starts, group * batch_size)``),
        each as ``fetch`` would make it: one pooled buffer and one copy per group, each batch a view of it.
        For small batches (one image a sample) a copy's bookkeeping costs as much as its bytes; a group
        shares it out. A pass suspended between batches holds its group's buffer (its coming batches are in
        it), so a cycler that keeps many passes suspended should not group (see ``cycler_passes``)."""
        if not self.can_group():
            raise RuntimeError("fetch_groups needs pooled CPU batches copied from the mapped tensor")
        source, windows, chunk, dtype = self.source, self._windows, self.chunk, self.source.dtype
        row = self._row_bytes // self.source.element_size()
        shape = (group * batch_size * chunk, *self.rest)  # every group's buffer, the last one partly filled
        batch_elements = batch_size * chunk * row
        take = BATCH_BUFFERS.take_base
        layouts: dict[int, tuple[int, ...]] = {}  # batch size -> the batch's size (its strides are shared)
        _, stride = permuted_layout((batch_size, chunk, *self.rest), order)

        def size_of(count: int) -> tuple[int, ...]:
            size = layouts.get(count)
            if size is None:
                size = layouts[count] = permuted_layout((count, chunk, *self.rest), order)[0]
            return size

        def one(step: tuple[bool, torch.Tensor]) -> tuple[torch.Tensor, ...]:
            whole, index = step
            blocks = whole and windows is not None
            chunks = index.shape[0] if blocks else index.shape[0] // chunk
            write = (chunks, chunk * row) if blocks else (chunks * chunk, *self.rest)
            full, rest = divmod(chunks, batch_size)
            first_size = size_of(min(chunks, batch_size))
            got = take(shape, dtype, first_size, stride, write)
            # (where the pool declines, e.g. it cannot tell free buffers: a buffer of this group's own)
            out, first = got if got is not None else self._unpooled(shape, write, first_size, stride)
            rows = windows if blocks and windows is not None else source
            if torch.get_num_threads() <= 1:
                torch.index_select(rows, 0, index, out=out)
            else:
                nbytes = chunks * chunk * self._row_bytes
                COPY_THREADS.run(nbytes, self._device, partial(torch.index_select, rows, 0, index, out=out))
            # The first batch (made under the pool's lock) keeps the buffer referenced while the rest are made.
            size = size_of(batch_size)
            views = [first] + [first.as_strided(size, stride, k * batch_elements) for k in range(1, full)]
            if rest and full:
                views.append(first.as_strided(size_of(rest), stride, full * batch_elements))
            return tuple(views)

        return itertools.chain.from_iterable(map(one, steps))

    def _unpooled(
        self,
        shape: tuple[int, ...],
        write: tuple[int, ...] | None,
        size: tuple[int, ...],
        stride: tuple[int, ...],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = torch.empty(shape, dtype=self.source.dtype, device=self._device)
        return (out if write is None else leading_view(out, write)), out.as_strided(size, stride)

    def _layout(self, length: int, windows: bool, order: tuple[int, ...] | None) -> tuple[Any, ...]:
        """The buffer shape (the same for window blocks and row gathers, so both share buffers), the shape
        ``index_select`` writes (None: the buffer's), the batch's size and strides, and the bytes."""
        count = length if windows else length // self.chunk
        shape = (count * self.chunk, *self.rest)
        write = (count, self.chunk * int(np.prod(self.rest, dtype=np.int64))) if windows else None
        size, stride = permuted_layout((count, self.chunk, *self.rest), order)
        return shape, write, size, stride, count * self.chunk * self._row_bytes

    def gather_batches(self, starts: np.ndarray, batch_size: int) -> tuple[torch.Tensor, ...]:
        """Every batch of a pass at once, ``(B, chunk, ...)`` each: one copy into a tensor of the pass's own
        (never pooled, so batches kept stay intact), split into per-batch views. For passes of a few hundred
        kilobytes (a one-image batch's targets), where a copy per batch costs more in bookkeeping than in
        bytes; see ``PASS_GATHER_MAX_BYTES``."""
        positions = self._chunk_positions(starts)
        shape = (len(starts), self.chunk, *self.rest)
        if self._host is not None:
            # numpy's take: it runs once a pass, with the CPU caches cold, where a torch op costs more
            taken = np.take(self._host, self._stored(positions), axis=0)
            return split_rows(torch.from_numpy(taken.reshape(shape)), batch_size)
        index = self.stored_rows(positions)
        out = torch.empty((len(index), *self.rest), dtype=self.source.dtype, device=self._device)
        source = self.source
        COPY_THREADS.run(
            len(index) * self._row_bytes, self._device, lambda: torch.index_select(source, 0, index, out=out)
        )
        return split_rows(out.view(shape), batch_size)

    def pass_bytes(self, starts: int) -> int:
        """Bytes of the chunks of ``starts`` start positions."""
        return starts * self.chunk * self._row_bytes

    def prefetch(self, whole: bool, index: torch.Tensor) -> None:
        """Start the disk reads of a coming planned batch (file reads only; a no-op otherwise)."""
        if self.reads_file:
            assert self.file_rows is not None
            if whole:
                self.file_rows.prefetch_chunks(index.numpy(), self.chunk)
            else:
                self.file_rows.prefetch_rows(index.numpy())

    def _read(self, whole: bool, index: torch.Tensor) -> torch.Tensor:
        assert self.file_rows is not None
        count = index.shape[0] if whole else index.shape[0] // self.chunk
        shape = (count * self.chunk, *self.rest)
        out = BATCH_BUFFERS.take(shape, self.source)
        if out is None:
            out = torch.empty(shape, dtype=self.source.dtype)
        target = out.numpy()
        if whole:
            self.file_rows.read_chunks(index.numpy(), self.chunk, target)
        else:
            self.file_rows.read_rows(index.numpy(), target)
        return out.view(count, self.chunk, *self.rest)

    def gather(self, starts: np.ndarray) -> torch.Tensor:
        """``(B, chunk, ...)``: the stored rows of positions ``s .. s + chunk - 1`` for every start ``s``."""
        if len(starts) == 0:
            return self.source.new_empty((0, self.chunk, *self.rest))
        ((whole, index),) = self.plan(starts, len(starts))
        return self.fetch(whole, index)
