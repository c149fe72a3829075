"""Iterate several sessions' loaders as one stream of ``(session_key, batch)`` pairs.

``LongCycler`` (training) visits sessions round-robin until the longest loader is exhausted, restarting shorter
ones; ``ShortCycler`` (evaluation) runs each session's loader exactly once.

Beyond the reference behaviour, both are safe with DataLoader workers and under ``torch.distributed``: every
worker and every rank computes the same plan (a pure function of ``seed`` and ``epoch``), and each worker
fetches only its own steps, so no batch is duplicated or lost. Under DDP all ranks step through the same
sessions in the same order, the same number of times (the longest loader is agreed with an all-reduce), while
the loaders' samplers give each rank a disjoint share of the samples.

Both are resumable: ``state_dict()`` says where the consumer stands in the epoch, and a fresh cycler over the
same loaders given ``load_state_dict(state)`` yields exactly the remaining pairs (``cycler_state.py``). The
per-loader passes live in ``cycler_passes.py``.
"""

from __future__ import annotations

import collections
import itertools
import logging
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar, cast

import torch
from torch.utils.data import DataLoader, IterableDataset

from openretina_core.data.cycler_passes import (
    END,
    GROUPED_PASSES_MAX,
    PASS_STRIDE,
    all_reduce_max,
    cycle,
    fetch,
    first_of_new_pass,
    iter_batches,
    loader_len,
    owners,
    round_robin,
    set_sampler_epoch,
    unwrap,
    worker_share,
)
from openretina_core.data.cycler_state import (
    Progress,
    Resumable,
    ResumePoint,
    capture_generators,
    restore_generators,
    round_robin_counts,
)
from openretina_core.data.sampler import derived_seed

BatchT = TypeVar("BatchT")  # the batches of the loaders: DataPoint for this package's

__all__ = ["PASS_STRIDE", "CyclerDataLoader", "LongCycler", "ShortCycler", "cycle", "iter_batches"]

logger = logging.getLogger(__name__)


class _Cycler(Resumable, IterableDataset[tuple[str, BatchT]], Generic[BatchT]):
    """Shared state of both cyclers: the loaders, the seed, the epoch and the place in it."""

    kind = "cycler"

    def __init__(self, loaders: Mapping[str, Iterable[BatchT]], seed: int = 0) -> None:
        if not loaders:
            raise ValueError("a cycler needs at least one loader")
        self.loaders = dict(loaders)
        self.seed = int(seed)
        self.epoch = 0
        self._explicit_epoch = False
        self._progress: Progress | None = None  # the iteration in flight (in this process)
        self._resume: ResumePoint | None = None  # a loaded state, for the next iteration of its epoch

    def __len__(self) -> int:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Fix the epoch used by the next iteration (needed when iterating inside DataLoader workers)."""
        self.epoch = int(epoch)
        self._explicit_epoch = True

    def _advance(self) -> None:
        if not self._explicit_epoch:
            self.epoch += 1
        self._explicit_epoch = False

    def as_dataloader(self, num_workers: int = 0, pin_memory: bool = False) -> CyclerDataLoader:
        """Wrap in a DataLoader that advances the epoch each pass and moves batches to the loaders' device."""
        return CyclerDataLoader(self, num_workers=num_workers, pin_memory=pin_memory)


class LongCycler(_Cycler[BatchT]):
    """Round-robin over sessions until the longest loader is exhausted; ``len = n_sessions * max_batches``.

    Session order is sorted, then shuffled (if ``shuffle``) with a generator seeded from ``(seed, epoch)``.
    Shorter loaders restart (their samplers reshuffle); no batch is cached. Every loader needs a ``len()``.
    """

    kind = "LongCycler"

    def __init__(self, loaders: Mapping[str, Iterable[BatchT]], shuffle: bool = True, seed: int = 0) -> None:
        super().__init__(loaders, seed)
        self.shuffle = shuffle

    @property
    def max_batches(self) -> int:
        """Batches in the longest loader (agreed across ranks under ``torch.distributed``)."""
        return all_reduce_max(self._local_max_batches())

    def _local_max_batches(self) -> int:
        return max(loader_len(key, loader, "LongCycler") for key, loader in self.loaders.items())

    def __len__(self) -> int:
        return len(self.loaders) * self._local_max_batches()

    def session_order(self, epoch: int) -> list[str]:
        keys = sorted(self.loaders)
        if self.shuffle and len(keys) > 1:  # (one session: the permutation of one is the only one)
            generator = torch.Generator().manual_seed(derived_seed(self.seed, epoch))
            keys = [keys[i] for i in torch.randperm(len(keys), generator=generator).tolist()]
        return keys

    def _lengths(self) -> dict[str, int]:
        return {key: loader_len(key, loader, "LongCycler") for key, loader in self.loaders.items()}

    def _settings(self) -> dict[str, Any]:
        return {"seed": self.seed, "shuffle": self.shuffle}

    def _load_settings(self, state: Mapping[str, Any]) -> None:
        self.seed, self.shuffle = int(state["seed"]), bool(state["shuffle"])

    def _new_progress(self, epoch: int, point: ResumePoint | None) -> Progress:
        if point is None:
            return Progress(epoch)
        order = self.session_order(epoch)
        counts = round_robin_counts(order, point.step)
        if {k: v for k, v in point.consumed.items() if v} != {k: v for k, v in counts.items() if v}:
            warnings.warn(
                f"resuming LongCycler at step {point.step}, but the pairs were not received in step order "
                f"(loaders iterated whole by one DataLoader worker?): some batches may repeat or be missed",
                RuntimeWarning,
                stacklevel=3,
            )
        return Progress(epoch, point.step, collections.Counter(counts))

    def __iter__(self) -> Iterator[tuple[str, BatchT]]:
        # The epoch's pairs come in parts (``_epoch_parts``); chained in C, a pair passes no Python frame, and
        # the epoch is still set up only when its first pair is asked for.
        return itertools.chain.from_iterable(self._epoch_parts())

    def _epoch_parts(self) -> Iterator[Iterator[tuple[str, BatchT]]]:
        epoch = self.epoch
        point = self._take_resume(epoch)
        order = self.session_order(epoch)
        total = len(order) * self.max_batches
        worker, n_workers = worker_share()
        self._advance()
        progress = self._new_progress(epoch, point)
        start = min(progress.step, total)
        if n_workers == 1:  # counts each pair itself
            yield from self._loader_parts(order, total, epoch, start, point, progress)
            return
        for key, loader in self.loaders.items():
            if point is not None and key in point.generators:
                restore_generators(loader, point.generators[key])
        items = self._iterate_plan(order, total, epoch, worker, n_workers, start)
        yield self._counted(items, progress)

    def _open_pass(
        self, key: str, epoch: int, pass_index: int, skip: int, point: ResumePoint | None, progress: Progress
    ) -> Iterator[Any]:
        """Start ``key``'s pass ``pass_index`` of ``epoch`` after ``skip`` batches. On resume, a loader's own
        generators are put back where they were when the saved pass began, and later passes replayed."""
        loader = self.loaders[key]
        saved = point.generators.get(key) if point is not None else None
        if saved is not None:
            restore_generators(loader, saved)
            for replayed in range(saved.pass_index, pass_index):
                set_sampler_epoch(loader, epoch * PASS_STRIDE + replayed)
                collections.deque(iter_batches(loader, skip=len(loader)), maxlen=0)
        progress.generators[key] = capture_generators(loader, pass_index)
        set_sampler_epoch(loader, epoch * PASS_STRIDE + pass_index)
        return iter_batches(loader, skip=skip, grouped=len(self.loaders) <= GROUPED_PASSES_MAX)

    def _loader_parts(
        self,
        order: list[str],
        total: int,
        epoch: int,
        start: int,
        point: ResumePoint | None,
        progress: Progress,
    ) -> Iterator[Iterator[tuple[str, Any]]]:
        """In one process: the epoch's pairs, each counted into ``progress`` as it is handed out (what
        ``_counted`` does for the other paths): the round-robin of the sessions' open passes, then, if a pass
        ran out before the end, the rest with each pass restarted as it runs out."""
        self._progress = progress
        if start < total:
            counts = round_robin_counts(order, start)
            passes: dict[str, int] = {}
            # Every session's first pass is planned up front, in one warm loop, rather than between batch copies.
            iterators: dict[str, Iterator[Any]] = {}
            for key in order[: min(total, len(order))]:
                length = len(self.loaders[key]) if counts[key] else 0
                passes[key], skip = divmod(counts[key], length) if length else (0, 0)
                iterators[key] = self._open_pass(key, epoch, passes[key], skip, point, progress)
            yield round_robin(order, iterators, start, total, progress)
            if progress.step < total:
                yield self._restarting(order, total, epoch, iterators, passes, progress)
        if self._progress is progress:
            self._progress = None

    def _restarting(
        self,
        order: list[str],
        total: int,
        epoch: int,
        iterators: dict[str, Iterator[Any]],
        passes: dict[str, int],
        progress: Progress,
    ) -> Iterator[tuple[str, Any]]:
        """The epoch from ``progress.step`` on, a session's pass restarted whenever it runs out."""
        consumed, sessions = progress.consumed, len(order)
        for step in range(progress.step, total):
            key = order[step % sessions] if sessions > 1 else order[0]
            batch = next(iterators[key], END)
            if batch is END:
                passes[key] += 1
                iterators[key] = self._open_pass(key, epoch, passes[key], 0, None, progress)
                batch = first_of_new_pass(key, iterators[key])
            progress.step += 1
            consumed[key] += 1
            yield key, batch

    def _iterate_plan(
        self, order: list[str], total: int, epoch: int, worker: int, n_workers: int, start: int
    ) -> Iterator[tuple[str, Any]]:
        """Inside DataLoader worker ``worker``: the same global step sequence as in one process. Shareable
        plans are striped (step ``i >= start`` is fetched by worker ``(i - start) % n_workers``, so the main
        process receives the steps in order); other loaders are iterated whole by their one owning worker.
        Steps before ``start`` (a resumed epoch) advance the plans without fetching shared batches."""
        inner = {key: unwrap(loader)[0] for key, loader in self.loaders.items()}
        owned = owners(order, inner, n_workers)
        passes = dict.fromkeys(order, 0)
        plans: dict[str, Iterator[Any]] = {}
        for step in range(total):
            key = order[step % len(order)]
            owner = owned.get(key)
            if owner is not None and owner != worker:
                continue
            if key not in plans:
                set_sampler_epoch(inner[key], epoch * PASS_STRIDE + passes[key])
                plans[key] = iter(inner[key]) if owner is not None else iter(list(inner[key].batch_sampler))
            item = next(plans[key], END)
            if item is END:
                passes[key] += 1
                set_sampler_epoch(inner[key], epoch * PASS_STRIDE + passes[key])
                plans[key] = iter(inner[key]) if owner is not None else iter(list(inner[key].batch_sampler))
                item = first_of_new_pass(key, plans[key])
            if step < start:
                continue
            if owner is not None:
                yield key, item
            elif (step - start) % n_workers == worker:
                yield key, fetch(inner[key], list(cast(Iterable[int], item)))


class ShortCycler(_Cycler[BatchT]):
    """Each session's loader exactly once, sessions in sorted order; ``len`` = total number of batches.

    Exact for evaluation: with workers each batch is fetched by exactly one worker; under DDP the loaders'
    samplers shard without padding, so the union over ranks is every sample once. Loaders without ``len()``
    can be iterated (only ``len(cycler)`` needs one).
    """

    kind = "ShortCycler"

    def __init__(self, loaders: Mapping[str, Iterable[BatchT]]) -> None:
        super().__init__(loaders, seed=0)

    def __len__(self) -> int:
        return sum(loader_len(key, loader, "len(ShortCycler)") for key, loader in self.loaders.items())

    def _new_progress(self, epoch: int, point: ResumePoint | None) -> Progress:
        consumed = point.consumed if point is not None else {}
        return Progress(epoch, sum(consumed.values()), collections.Counter(consumed))

    def __iter__(self) -> Iterator[tuple[str, BatchT]]:
        point = self._take_resume(self.epoch)
        progress = self._new_progress(self.epoch, point)
        worker, n_workers = worker_share()
        if n_workers == 1:
            items = self._iterate_once(point, progress)
        else:
            items = self._iterate_striped(worker, n_workers, point)
        yield from self._counted(items, progress)

    def _iterate_once(self, point: ResumePoint | None, progress: Progress) -> Iterator[tuple[str, Any]]:
        # Nothing draws from a loader's generators before its turn: their state now is their pass's start.
        for key, loader in self.loaders.items():
            if point is not None and key in point.generators:
                restore_generators(loader, point.generators[key])
            progress.generators[key] = capture_generators(loader)
        for key in sorted(self.loaders):
            skip = point.consumed.get(key, 0) if point is not None else 0
            for batch in iter_batches(self.loaders[key], skip=skip):
                yield key, batch

    def _iterate_striped(
        self, worker: int, n_workers: int, point: ResumePoint | None
    ) -> Iterator[tuple[str, Any]]:
        inner = {key: unwrap(loader)[0] for key, loader in self.loaders.items()}
        if point is not None:
            for key, saved in point.generators.items():
                restore_generators(inner[key], saved)
        consumed = point.consumed if point is not None else {}
        owned = owners(list(inner), inner, n_workers)
        step = 0
        for key in sorted(inner):
            skip = consumed.get(key, 0)
            if key in owned:
                if owned[key] == worker:
                    for batch in iter_batches(inner[key], skip=skip):
                        yield key, batch
                continue
            for indices in list(inner[key].batch_sampler)[skip:]:
                if step % n_workers == worker:
                    yield key, fetch(inner[key], list(indices))
                step += 1


class CyclerDataLoader(DataLoader):
    """A DataLoader over a cycler that advances the cycler's epoch each pass (also with worker processes),
    moves batches to the device of the wrapped loaders in the main process, and counts the pairs it delivers
    there, so ``state_dict()`` (the cycler's) is right with workers too."""

    def __init__(self, cycler: _Cycler[Any], num_workers: int = 0, pin_memory: bool = False) -> None:
        super().__init__(
            cycler,
            batch_size=None,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=False,
            collate_fn=_identity,
        )
        self.cycler = cycler
        self._epoch = cycler.epoch
        devices = {unwrap(loader)[1] for loader in cycler.loaders.values()}
        self.device = devices.pop() if len(devices) == 1 else None

    def __len__(self) -> int:
        return len(self.cycler)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        self._epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        return self.cycler.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.cycler.load_state_dict(state)
        self._epoch = self.cycler.epoch

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        from openretina_core.data.device import move_batch

        cycler = self.cycler
        epoch = self._epoch
        cycler.set_epoch(epoch)
        self._epoch += 1
        if self.num_workers == 0:
            # In-process: the cycler iterates the (possibly device-wrapped) loaders itself, and counts.
            yield from super().__iter__()
        else:
            progress = cycler._begin_in_main(epoch)
            iterator = super().__iter__()  # the workers start here, each with a copy of the saved place
            cycler._resume = None
            for key, batch in iterator:
                progress.note(key)
                yield key, (move_batch(batch, self.device) if self.device is not None else batch)
            if cycler._progress is progress:
                cycler._progress = None
        cycler.epoch, cycler._explicit_epoch = self._epoch, False


def _identity(x: Any) -> Any:
    return x
