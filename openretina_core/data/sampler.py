"""Which chunks each epoch visits: the sampler's shifted, shuffled, sharded start positions and the loader
built around a :class:`~openretina_core.data.movie_dataset.MovieDataset`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from openretina_core.data.movie_dataset import MovieDataset, passthrough_collate


def derived_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (seed, epoch, rank, ...), so streams never coincide. A keyed
    hash of the parts' decimal text: unambiguous, platform-independent and cheap (it runs once per pass)."""
    text = ",".join(str(int(part)) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8, person=b"openretina").digest(), "little") >> 1


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
        """This rank's start positions for ``epoch`` (pure function of the arguments and the settings).

        Only the random draws are torch calls (so the stream is torch's, whatever the platform); the integer
        arithmetic around them is numpy on the fixed nominal starts, whose clip limits are worked out once
        (a few small torch operations per pass cost as much as a one-image batch)."""
        starts = self.starts.numpy()
        if self.shuffle:
            generator = torch.Generator().manual_seed(derived_seed(self.seed, epoch))
            last_start = self.sequence_length - self.chunk_size
            if self.shift == "over_boundaries":
                shifts = torch.randint(0, self.chunk_size, (len(starts),), generator=generator).numpy()
                starts = np.minimum(starts + shifts, last_start)
            elif self.shift == "within_clips" and self.clip_starts is not None:
                shifts = torch.randint(
                    0, max(1, self.chunk_size // 2), (len(starts),), generator=generator
                ).numpy()
                starts = np.minimum(np.minimum(starts + shifts, last_start), self._clip_limits())
            starts = starts[torch.randperm(len(starts), generator=generator).numpy()]
        if self.num_replicas > 1:
            n = len(starts)
            if self.even_shards:
                starts = starts[: n - n % self.num_replicas]
            starts = starts[self.rank :: self.num_replicas]
        return torch.from_numpy(np.array(starts, dtype=np.int64))

    def _clip_limits(self) -> np.ndarray:
        """The last start that keeps each nominal start's chunk inside its clip (a clip shorter than the chunk
        starts at its beginning); cached for the current ``starts`` and ``clip_starts``."""
        assert self.clip_starts is not None
        key = (self.starts, self.clip_starts, self.chunk_size, self.sequence_length)
        cached = getattr(self, "_limits", None)
        if cached is not None and all(a is b for a, b in zip(cached[0], key)):
            return cached[1]
        clips = self.clip_starts.numpy()
        clip_idx = np.searchsorted(clips, self.starts.numpy(), side="right") - 1
        clip_ends = np.append(clips[1:], self.sequence_length)[clip_idx]
        limits = np.maximum(clip_ends - self.chunk_size, clips[clip_idx])
        self._limits = (key, limits)
        return limits

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
