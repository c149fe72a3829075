"""The movie dataset and its sampler: chunks of a stored movie aligned with responses, fetched a batch at a time.

A dataset never copies the movie. It holds a time-major ``(T, C, H, W)`` tensor (shared by every session that
uses the same stimulus) and, optionally, an index map from positions of its logical sequence (a split, a clip
order) to stored frames. A batch is one ``index_select`` per tensor into a pooled buffer (reused once nothing
references it); the ``(B, C, T, H, W)`` batch is a view of that ``(B, T, C, H, W)`` buffer (contiguous when
C == 1). Iterating a whole pass plans every batch's index work in one vectorised step first.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info


class DataPoint(NamedTuple):
    """One sample ``(inputs (C, T, H, W), targets (T, N))`` or one batch ``((B, C, T, H, W), (B, T, N))``."""

    inputs: torch.Tensor
    targets: torch.Tensor


def passthrough_collate(batch: Any) -> Any:
    """Collate for datasets that assemble whole batches themselves (``__getitems__``)."""
    if isinstance(batch, DataPoint):
        return batch
    if isinstance(batch, list) and batch and isinstance(batch[0], DataPoint):
        return DataPoint(torch.stack([b.inputs for b in batch]), torch.stack([b.targets for b in batch]))
    return torch.utils.data.default_collate(batch)


def derived_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (seed, epoch, rank, ...), so streams never coincide. A keyed
    hash of the parts' decimal text: unambiguous, platform-independent and cheap (it runs once per pass)."""
    text = ",".join(str(int(part)) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8, person=b"openretina").digest(), "little") >> 1


def _as_long(index: Any) -> torch.Tensor | None:
    if index is None:
        return None
    return torch.as_tensor(np.asarray(index), dtype=torch.long)


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
        # Per (shape, dtype): (buffer, its storage handle). The pool's own reference keeps each handle valid.
        self._by_key: dict[tuple[tuple[int, ...], torch.dtype], list[tuple[torch.Tensor, int]]] = {}
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
        """A free buffer of ``shape`` (a fresh view of it, so it counts as referenced at once), or None."""
        if _STORAGE_USE_COUNT is None or like.device.type != "cpu" or get_worker_info() is not None:
            return None
        key = (shape, like.dtype)
        with self._lock:
            candidates = self._by_key.setdefault(key, [])
            for buffer, handle in candidates:
                if _STORAGE_USE_COUNT(handle) == _UNREFERENCED:
                    return buffer.view(shape)
            buffer = torch.empty(shape, dtype=like.dtype)
            if len(self.buffers) >= self.size:
                evicted = self.buffers.pop(0)
                for same in self._by_key.values():
                    same[:] = [entry for entry in same if entry[0] is not evicted]
            self.buffers.append(buffer)
            candidates.append((buffer, _storage_handle(buffer)))
            return buffer.view(shape)


BATCH_BUFFERS = BatchBufferPool()


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


class ChunkGatherer:
    """Gathers chunks of ``chunk`` consecutive sequence positions from a stored tensor ``(T, ...)``, through an
    optional index map from sequence position to stored row.

    Everything that can be worked out once is: the index map and which starts map to consecutive stored rows
    are kept as host arrays (a few microseconds of numpy per batch, and no device synchronisation), and a
    window view of the source makes every chunk one contiguous row, so a batch of consecutive chunks is a
    single ``index_select`` of ``B`` long rows (one block copy per chunk, not one per frame) where stored rows
    are small (see ``WINDOW_MAX_ROW_BYTES``).
    """

    def __init__(self, source: torch.Tensor, index: torch.Tensor | None, chunk: int) -> None:
        self.chunk = int(chunk)
        self._index = index.cpu().numpy() if index is not None else None
        self._runs = consecutive_starts(self._index, self.chunk)
        self.bind(source)

    def bind(self, source: torch.Tensor) -> None:
        """(Re)attach the stored tensor, e.g. after it moved to another device."""
        self.source = source
        self.rest = tuple(source.shape[1:])
        self._windows: torch.Tensor | None = None
        row = int(np.prod(self.rest, dtype=np.int64))
        if (
            source.is_contiguous()
            and source.shape[0] >= self.chunk
            and row * source.element_size() <= WINDOW_MAX_ROW_BYTES
        ):
            self._windows = source.reshape(-1).as_strided(
                (source.shape[0] - self.chunk + 1, self.chunk * row), (row, 1)
            )

    def plans_like(self, other: ChunkGatherer) -> bool:
        """Whether ``other.plan`` would return exactly what ``self.plan`` returns (same index map, same
        window availability, same device), so one plan serves both."""
        if self.chunk != other.chunk or self.source.device != other.source.device:
            return False
        if (self._windows is None) != (other._windows is None):
            return False
        if self._index is None or other._index is None:
            return self._index is None and other._index is None
        return self._index is other._index or np.array_equal(self._index, other._index)

    def _as_index(self, values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(values, dtype=np.int64)).to(self.source.device)

    def stored_rows(self, positions: np.ndarray) -> torch.Tensor:
        """Stored row of each sequence position, as an index tensor on the source's device."""
        return self._as_index(self._index[positions] if self._index is not None else positions)

    def plan(self, starts: np.ndarray, batch_size: int) -> list[tuple[bool, torch.Tensor]]:
        """How to fetch each batch of ``batch_size`` consecutive entries of ``starts``: ``(True, window rows)``
        when every chunk of the batch is consecutive in storage, else ``(False, stored rows of every
        position)``. Worked out for all batches at once, so a batch costs only its copies."""
        count = len(starts)
        if count == 0:
            return []
        bounds = range(0, count, batch_size)
        whole: np.ndarray
        if self._windows is None:
            whole = np.zeros(len(bounds), dtype=bool)
        elif self._runs is None:
            whole = np.ones(len(bounds), dtype=bool)
        else:
            broken = np.zeros(len(bounds) * batch_size, dtype=bool)
            broken[:count] = ~self._runs[starts]
            whole = np.logical_not(broken.reshape(len(bounds), batch_size).any(axis=1))
        chunk = self.chunk
        firsts = rows = None
        if whole.any():  # window starts: the stored row of each chunk's first position
            firsts = self.stored_rows(starts)
        if not whole.all():  # stored rows of every position
            rows = self.stored_rows((starts[:, None] + np.arange(chunk)).reshape(-1))
        steps: list[tuple[bool, torch.Tensor]] = []
        for begin, is_whole in zip(bounds, whole.tolist()):
            if is_whole and firsts is not None:
                steps.append((True, firsts[begin : begin + batch_size]))
            elif rows is not None:
                steps.append((False, rows[begin * chunk : (begin + batch_size) * chunk]))
        return steps

    def fetch(self, whole: bool, index: torch.Tensor) -> torch.Tensor:
        """``(B, chunk, ...)`` for one planned batch, into a reused buffer when one is free."""
        windows = self._windows if whole else None
        count = len(index) if windows is not None else len(index) // self.chunk
        out = BATCH_BUFFERS.take((count * self.chunk, *self.rest), self.source)
        if windows is not None:
            if out is None:
                return torch.index_select(windows, 0, index).view(count, self.chunk, *self.rest)
            torch.index_select(windows, 0, index, out=out.view(count, -1))
        elif out is None:
            return torch.index_select(self.source, 0, index).view(count, self.chunk, *self.rest)
        else:
            torch.index_select(self.source, 0, index, out=out)
        return out.view(count, self.chunk, *self.rest)

    def gather(self, starts: np.ndarray) -> torch.Tensor:
        """``(B, chunk, ...)``: the stored rows of positions ``s .. s + chunk - 1`` for every start ``s``."""
        if len(starts) == 0:
            return self.source.new_empty((0, self.chunk, *self.rest))
        ((whole, index),) = self.plan(starts, len(starts))
        return self.fetch(whole, index)


class MovieDataset(Dataset[DataPoint]):
    """Chunks of ``chunk_size`` consecutive positions of a (possibly re-indexed) movie and its responses.

    ``movie``: time-major ``(T_stored, C, H, W)`` float32 tensor. ``responses``: ``(T_stored_resp, N)``.
    ``movie_index`` / ``response_index``: ``(L,)`` maps from sequence position to stored frame/bin (identity
    when ``None``; then ``L`` is the stored length). ``flip_width`` mirrors every chunk along width (e.g. a
    left-eye recording shown a right-eye movie). Indexing by a start position returns one :class:`DataPoint`;
    ``__getitems__`` returns a whole batch with one gather per tensor.
    """

    def __init__(
        self,
        movie: torch.Tensor,
        responses: torch.Tensor,
        chunk_size: int,
        movie_index: Any = None,
        response_index: Any = None,
        flip_width: bool = False,
        test_responses_by_trial: torch.Tensor | None = None,
        name: str = "",
    ) -> None:
        if movie.ndim != 4:
            raise ValueError(
                f"movie: expected a time-major (T, C, H, W) tensor, received {tuple(movie.shape)}"
            )
        if responses.ndim != 2:
            raise ValueError(f"responses: expected (T, N), received {tuple(responses.shape)}")
        self.movie_index = _as_long(movie_index)
        self.response_index = _as_long(response_index)
        length_movie = len(self.movie_index) if self.movie_index is not None else movie.shape[0]
        length_resp = len(self.response_index) if self.response_index is not None else responses.shape[0]
        if length_movie != length_resp:
            raise ValueError(
                f"{name or 'dataset'}: movie sequence has {length_movie} frames but responses have {length_resp}"
            )
        if chunk_size < 1 or chunk_size > length_movie:
            raise ValueError(
                f"{name or 'dataset'}: chunk_size {chunk_size} must be between 1 and the sequence length "
                f"{length_movie}"
            )
        self.sequence_length = int(length_movie)
        self.chunk_size = int(chunk_size)
        self.flip_width = bool(flip_width)
        self.name = name
        self.test_responses_by_trial = test_responses_by_trial
        # Gatherers hold the stored tensors (see the ``movie`` and ``responses`` properties).
        self._movie_chunks = ChunkGatherer(movie, self.movie_index, self.chunk_size)
        self._response_chunks = ChunkGatherer(responses, self.response_index, self.chunk_size)

    # -- map-style dataset ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of valid start positions."""
        return self.sequence_length - self.chunk_size + 1

    def __getitem__(self, start: int) -> DataPoint:
        batch = self.__getitems__([int(start)])
        return DataPoint(batch.inputs[0], batch.targets[0])

    def __getitems__(self, starts: Sequence[int]) -> DataPoint:
        start_np = np.asarray(starts, dtype=np.int64).reshape(-1)
        if len(start_np) and (start_np.min() < 0 or start_np.max() >= len(self)):
            raise IndexError(f"start positions must lie in [0, {len(self)}), got {start_np.tolist()}")
        return DataPoint(
            self._finish_inputs(self._movie_chunks.gather(start_np)), self._gather_responses(start_np)
        )

    def iter_batches(self, starts: np.ndarray, batch_size: int, drop_last: bool) -> Iterator[DataPoint]:
        """The batches ``__getitems__`` would return for consecutive groups of ``batch_size`` starts (as a
        DataLoader with a batch sampler forms them). The index work of all of them is done here, at once;
        the copies happen as the returned iterator is advanced."""
        starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        if drop_last:
            starts = starts[: len(starts) // batch_size * batch_size]
        if len(starts) and (starts.min() < 0 or starts.max() >= len(self)):
            raise IndexError(f"start positions must lie in [0, {len(self)})")
        movie_steps = self._movie_chunks.plan(starts, batch_size)
        neuron_major = self._responses_neuron_major()
        response_steps = (
            None
            if neuron_major
            else movie_steps
            if self._movie_chunks.plans_like(self._response_chunks)
            else self._response_chunks.plan(starts, batch_size)
        )
        return self._planned_batches(movie_steps, response_steps, starts, batch_size)

    def _planned_batches(
        self,
        movie_steps: list[tuple[bool, torch.Tensor]],
        response_steps: list[tuple[bool, torch.Tensor]] | None,
        starts: np.ndarray,
        batch_size: int,
    ) -> Iterator[DataPoint]:
        for step, (whole, index) in enumerate(movie_steps):
            # No local names for batches: a suspended generator must not keep its last batch alive (batch
            # buffers are reused only once nothing references them).
            yield DataPoint(
                self._finish_inputs(self._movie_chunks.fetch(whole, index)),
                self._gather_responses(starts[step * batch_size : (step + 1) * batch_size])
                if response_steps is None
                else self._response_chunks.fetch(*response_steps[step]),
            )

    def _finish_inputs(self, chunks: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` chunks -> ``(B, C, T, H, W)`` inputs (a view unless flipped)."""
        inputs = chunks.permute(0, 2, 1, 3, 4)
        return inputs.flip(-1) if self.flip_width else inputs

    def _responses_neuron_major(self) -> bool:
        responses = self.responses
        return not responses.is_contiguous() and responses.T.is_contiguous()

    def _gather_responses(self, starts: np.ndarray) -> torch.Tensor:
        """``(B, chunk, N)``. Responses stored neuron-major (a transposed view) are gathered along their
        contiguous time axis and returned as a transposed view, which avoids both a copy of the stored
        responses and a slow strided gather."""
        responses = self.responses
        if self._responses_neuron_major():
            rows = self._response_chunks.stored_rows(
                (starts[:, None] + np.arange(self.chunk_size)).reshape(-1)
            )
            return torch.index_select(responses.T, 1, rows).T.view(len(starts), self.chunk_size, -1)
        return self._response_chunks.gather(starts)

    # The stored tensors; rebinding one (e.g. moving it to a device) rebinds its gatherer.
    @property
    def movie(self) -> torch.Tensor:
        return self._movie_chunks.source

    @movie.setter
    def movie(self, value: torch.Tensor) -> None:
        self._movie_chunks.bind(value)

    @property
    def responses(self) -> torch.Tensor:
        return self._response_chunks.source

    @responses.setter
    def responses(self, value: torch.Tensor) -> None:
        self._response_chunks.bind(value)

    def _gather_movie(self, positions: torch.Tensor) -> torch.Tensor:
        frames = self.movie_index[positions] if self.movie_index is not None else positions
        return torch.index_select(self.movie, 0, frames.to(self.movie.device))

    # -- conveniences expected by openretina users -----------------------------------------------------------
    @property
    def n_neurons(self) -> int:
        return int(self.responses.shape[1])

    @property
    def movies(self) -> torch.Tensor:
        """The whole sequence as ``(C, L, H, W)`` (gathers when re-indexed; a view otherwise)."""
        positions = torch.arange(self.sequence_length)
        movie = self._gather_movie(positions) if self.movie_index is not None else self.movie
        movie = movie.permute(1, 0, 2, 3)
        return movie.flip(-1) if self.flip_width else movie

    @property
    def sequence_responses(self) -> torch.Tensor:
        """The whole sequence's responses ``(L, N)``."""
        if self.response_index is None:
            return self.responses
        return torch.index_select(self.responses, 0, self.response_index.to(self.responses.device))

    @property
    def mean_response(self) -> torch.Tensor:
        """Per-neuron mean over the sequence, ``(N,)``."""
        return self.sequence_responses.mean(dim=0)

    def to(self, device: torch.device | str, movie: torch.Tensor | None = None) -> MovieDataset:
        """Move the arrays to ``device`` in place (pass an already-moved shared ``movie`` to avoid a copy)."""
        device = torch.device(device)
        self.movie = movie if movie is not None else self.movie.to(device)
        self.responses = self.responses.to(device)
        if self.movie_index is not None:
            self.movie_index = self.movie_index.to(device)
        if self.response_index is not None:
            self.response_index = self.response_index.to(device)
        return self


class MovieSampler(Sampler[int]):
    """Start positions for one epoch: optionally shifted and shuffled, optionally sharded across ranks.

    ``starts``: the nominal start positions (e.g. every ``chunk`` frames). With ``shuffle``, each start gets a
    random shift (``shift="over_boundaries"``: in ``[0, chunk)``, clipped to the sequence end;
    ``shift="within_clips"``: in ``[0, chunk // 2)``, and kept inside the clip given by ``clip_starts``), then
    the order is permuted. Randomness comes from a generator seeded from ``(seed, epoch)`` only, so every rank
    and every DataLoader worker sees the same plan. With ``num_replicas > 1`` each rank keeps a disjoint
    share; ``even_shards`` drops the remainder so every rank has the same count (training), otherwise shares
    are exact and may differ by one (evaluation: no padded duplicates). The epoch advances by one after each
    iteration unless ``set_epoch`` is called.
    """

    def __init__(
        self,
        starts: Sequence[int] | np.ndarray,
        chunk_size: int,
        sequence_length: int,
        shuffle: bool = True,
        shift: str = "over_boundaries",
        clip_starts: Sequence[int] | np.ndarray | None = None,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        even_shards: bool = True,
    ) -> None:
        if shift not in {"none", "over_boundaries", "within_clips"}:
            raise ValueError(f"shift must be 'none', 'over_boundaries' or 'within_clips', got {shift!r}")
        if shift == "within_clips" and clip_starts is None:
            raise ValueError("shift='within_clips' needs clip_starts")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside [0, {num_replicas})")
        self.starts = torch.as_tensor(np.asarray(starts), dtype=torch.long)
        self.chunk_size = int(chunk_size)
        self.sequence_length = int(sequence_length)
        self.shuffle = shuffle
        self.shift = shift if shuffle else "none"
        self.clip_starts = (
            torch.as_tensor(np.asarray(clip_starts), dtype=torch.long) if clip_starts is not None else None
        )
        self.seed = int(seed)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.even_shards = even_shards
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.starts)
        if self.num_replicas == 1:
            return n
        if self.even_shards:
            return n // self.num_replicas
        return len(range(self.rank, n, self.num_replicas))

    def epoch_starts(self, epoch: int) -> torch.Tensor:
        """This rank's start positions for ``epoch`` (pure function of the arguments and the settings)."""
        starts = self.starts.clone()
        if self.shuffle:
            generator = torch.Generator().manual_seed(derived_seed(self.seed, epoch))
            last_start = self.sequence_length - self.chunk_size
            if self.shift == "over_boundaries":
                shifts = torch.randint(0, self.chunk_size, (len(starts),), generator=generator)
                starts = torch.clamp(starts + shifts, max=last_start)
            elif self.shift == "within_clips" and self.clip_starts is not None:
                shifts = torch.randint(0, max(1, self.chunk_size // 2), (len(starts),), generator=generator)
                clip_idx = torch.searchsorted(self.clip_starts, starts, right=True) - 1
                clip_begin = self.clip_starts[clip_idx]
                clip_ends = torch.cat([self.clip_starts[1:], torch.tensor([self.sequence_length])])[clip_idx]
                # Keep the chunk inside its clip; a clip shorter than the chunk starts at its beginning.
                limit = torch.maximum(clip_ends - self.chunk_size, clip_begin)
                starts = torch.minimum(torch.clamp(starts + shifts, max=last_start), limit)
            starts = starts[torch.randperm(len(starts), generator=generator)]
        if self.num_replicas > 1:
            n = len(starts)
            if self.even_shards:
                starts = starts[: n - n % self.num_replicas]
            starts = starts[self.rank :: self.num_replicas]
        return starts

    def next_epoch_starts(self) -> torch.Tensor:
        """The starts one iteration yields (advancing the epoch exactly as iterating does)."""
        starts = self.epoch_starts(self.epoch)
        self.epoch += 1
        return starts

    def __iter__(self) -> Iterator[int]:
        return iter(self.next_epoch_starts().tolist())


def make_movie_dataloader(
    dataset: MovieDataset,
    batch_size: int,
    starts: Sequence[int] | np.ndarray,
    *,
    train: bool,
    shift: str = "over_boundaries",
    clip_starts: Sequence[int] | np.ndarray | None = None,
    seed: int = 0,
    num_replicas: int = 1,
    rank: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A torch ``DataLoader`` over ``dataset`` whose batches are fetched with one gather each.

    Train loaders shuffle, shift and drop the last incomplete batch; evaluation loaders keep the nominal order
    and every sample exactly once (sharded without padding under ``torch.distributed``).
    """
    sampler = MovieSampler(
        starts,
        chunk_size=dataset.chunk_size,
        sequence_length=dataset.sequence_length,
        shuffle=train,
        shift=shift,
        clip_starts=clip_starts,
        seed=seed,
        num_replicas=num_replicas,
        rank=rank,
        even_shards=train,
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=train,
        collate_fn=passthrough_collate,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )
