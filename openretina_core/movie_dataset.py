"""The movie dataset and its sampler: chunks of a stored movie aligned with responses, fetched a batch at a time.

A dataset never copies the movie. It holds a time-major ``(T, C, H, W)`` tensor (shared by every session that
uses the same stimulus) and, optionally, an index map from positions of its logical sequence (a split, a clip
order) to stored frames. A batch is one ``index_select`` into a fresh buffer; the ``(B, C, T, H, W)`` batch is a
view of that ``(B, T, C, H, W)`` buffer (contiguous when C == 1).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


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
    """A 63-bit seed that depends on every part (seed, epoch, rank, ...), so streams never coincide."""
    words: list[int] = []
    for part in parts:
        value = int(part)
        words.extend([len(words), value & 0xFFFFFFFF, (value >> 32) & 0xFFFFFFFF, int(value < 0)])
    return int(np.random.SeedSequence(words).generate_state(2, np.uint64)[0] >> 1)


def _as_long(index: Any) -> torch.Tensor | None:
    if index is None:
        return None
    return torch.as_tensor(np.asarray(index), dtype=torch.long)


def _storage_use_count(tensor: torch.Tensor) -> int | None:
    """References to a tensor's storage (views included), or None where torch does not expose the count."""
    counter = getattr(torch._C, "_storage_Use_Count", None)
    if counter is None:
        return None
    return int(counter(tensor.untyped_storage()._cdata))


_UNREFERENCED = _storage_use_count(torch.empty(1))


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
        self.buffers: list[torch.Tensor] = []
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
        """A free buffer of ``shape`` (a fresh view of it, so it counts as referenced at once), or None."""
        if (
            _UNREFERENCED is None
            or like.device.type != "cpu"
            or torch.utils.data.get_worker_info() is not None
        ):
            return None
        with self._lock:
            for i in range(len(self.buffers) - 1, -1, -1):  # most recently used first: still warm in cache
                buffer = self.buffers[i]
                if (
                    buffer.shape == shape
                    and buffer.dtype == like.dtype
                    and _storage_use_count(buffer) == _UNREFERENCED
                ):
                    self.buffers.append(self.buffers.pop(i))
                    return buffer.view(shape)
            buffer = torch.empty(shape, dtype=like.dtype)
            if len(self.buffers) >= self.size:
                self.buffers.pop(0)
            self.buffers.append(buffer)
            return buffer.view(shape)


BATCH_BUFFERS = BatchBufferPool()


def consecutive_starts(index: torch.Tensor | None, chunk: int) -> torch.Tensor | None:
    """For each start position, whether its ``chunk`` positions map to consecutive stored rows (``None``: all
    do, the identity map). Splits and clip orders move whole clips, so nearly every chunk qualifies."""
    if index is None:
        return None
    breaks = torch.cat([torch.zeros(1, dtype=torch.long), (index[1:] - index[:-1] != 1).long().cumsum(0)])
    return breaks[chunk - 1 :] == breaks[: len(index) - chunk + 1]


def gather_chunks(
    source: torch.Tensor,
    index: torch.Tensor | None,
    runs: torch.Tensor | None,
    starts: torch.Tensor,
    chunk: int,
) -> torch.Tensor:
    """``(B, chunk, ...)``: the rows ``index[s : s + chunk]`` of ``source`` for every start ``s``, with one
    ``index_select`` into a reused buffer when one is free. When every chunk is a run of consecutive stored
    rows, whole chunks are copied as blocks from a window view of ``source`` (one copy per chunk, not per row).
    """
    rest = source.shape[1:]
    out = BATCH_BUFFERS.take((len(starts) * chunk, *rest), source)
    if source.is_contiguous() and (runs is None or bool(runs[starts].all())):
        first = index[starts] if index is not None else starts
        windows = source.as_strided(
            (source.shape[0] - chunk + 1, chunk, *rest), (source.stride(0), *source.stride())
        )
        if out is None:
            return torch.index_select(windows, 0, first)
        return torch.index_select(windows, 0, first, out=out.view(len(starts), chunk, *rest))
    positions = (starts[:, None] + torch.arange(chunk, device=starts.device)).reshape(-1)
    rows = index[positions] if index is not None else positions
    if out is None:
        return torch.index_select(source, 0, rows).view(len(starts), chunk, *rest)
    return torch.index_select(source, 0, rows, out=out).view(len(starts), chunk, *rest)


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
        self.movie = movie
        self.responses = responses
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
        self._offsets = torch.arange(self.chunk_size, dtype=torch.long)
        self._movie_runs = consecutive_starts(self.movie_index, self.chunk_size)
        self._response_runs = consecutive_starts(self.response_index, self.chunk_size)

    # -- map-style dataset ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of valid start positions."""
        return self.sequence_length - self.chunk_size + 1

    def __getitem__(self, start: int) -> DataPoint:
        batch = self.__getitems__([int(start)])
        return DataPoint(batch.inputs[0], batch.targets[0])

    def __getitems__(self, starts: Sequence[int]) -> DataPoint:
        if len(starts) and (min(starts) < 0 or max(starts) >= len(self)):
            raise IndexError(f"start positions must lie in [0, {len(self)}), got {list(starts)}")
        start_t = torch.as_tensor(starts, dtype=torch.long, device=self.movie.device)
        inputs = gather_chunks(self.movie, self.movie_index, self._movie_runs, start_t, self.chunk_size)
        inputs = inputs.permute(0, 2, 1, 3, 4)
        if self.flip_width:
            inputs = inputs.flip(-1)
        return DataPoint(inputs, self._gather_responses(start_t.to(self.responses.device)))

    def _gather_responses(self, starts: torch.Tensor) -> torch.Tensor:
        """``(B, chunk, N)``. Responses stored neuron-major (a transposed view) are gathered along their
        contiguous time axis and returned as a transposed view, which avoids both a copy of the stored
        responses and a slow strided gather."""
        responses = self.responses
        if not responses.is_contiguous() and responses.T.is_contiguous():
            positions = (starts[:, None] + self._offsets.to(starts.device)).reshape(-1)
            rows = self.response_index[positions] if self.response_index is not None else positions
            return torch.index_select(responses.T, 1, rows).T.view(len(starts), self.chunk_size, -1)
        return gather_chunks(responses, self.response_index, self._response_runs, starts, self.chunk_size)

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
        self._offsets = self._offsets.to(device)
        if self._movie_runs is not None:
            self._movie_runs = self._movie_runs.to(device)
        if self._response_runs is not None:
            self._response_runs = self._response_runs.to(device)
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

    def __iter__(self) -> Iterator[int]:
        starts = self.epoch_starts(self.epoch)
        self.epoch += 1
        return iter(starts.tolist())


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
