"""Iterate several sessions' loaders as one stream of ``(session_key, batch)`` pairs.

``LongCycler`` (training) visits sessions round-robin until the longest loader is exhausted, restarting shorter
ones; ``ShortCycler`` (evaluation) runs each session's loader exactly once.

Beyond the reference behaviour, both are safe with DataLoader workers and under ``torch.distributed``: every
worker and every rank computes the same plan (a pure function of ``seed`` and ``epoch``), and each worker
fetches only its own steps, so no batch is duplicated or lost. Under DDP all ranks step through the same
sessions in the same order, the same number of times (the longest loader is agreed with an all-reduce), while
the loaders' samplers give each rank a disjoint share of the samples.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    get_worker_info,
)

from openretina_core.data.sampler import derived_seed

# A session's p-th pass in cycler epoch e runs its sampler at epoch e * PASS_STRIDE + p.
PASS_STRIDE = 1 << 20


def _unwrap(loader: Any) -> tuple[Any, torch.device | None]:
    from openretina_core.data.device import DeviceDataLoader

    if isinstance(loader, DeviceDataLoader):
        return loader.loader, loader.device
    return loader, None


def _fetch(loader: DataLoader, indices: list[int]) -> Any:
    dataset = loader.dataset
    getitems = getattr(dataset, "__getitems__", None)
    samples = getitems(indices) if getitems is not None else [dataset[i] for i in indices]
    return loader.collate_fn(samples) if loader.collate_fn is not None else samples


def iter_batches(loader: Any) -> Iterator[Any]:
    """Iterate a loader. For this package's own in-process movie loaders, fetch straight from the batch
    sampler and the dataset's batched ``__getitems__``: the same batches in the same order as iterating the
    DataLoader, without its per-batch machinery (~10 % of a small batch's cost). For those, the pass's index
    work is planned here, at once; any other loader is only iterated once its first batch is asked for."""
    from openretina_core.data.device import move_batch
    from openretina_core.data.movie_dataset import MovieDataset, passthrough_collate
    from openretina_core.data.sampler import MovieSampler

    inner, device = _unwrap(loader)
    direct = (
        isinstance(inner, DataLoader)
        and isinstance(inner.dataset, MovieDataset)
        and inner.num_workers == 0
        and not inner.pin_memory
        and inner.collate_fn is passthrough_collate
        and inner.batch_sampler is not None
    )
    if not direct:
        return _lazily(loader)
    dataset = inner.dataset
    batch_sampler = inner.batch_sampler
    batches: Iterator[Any]
    if type(batch_sampler) is BatchSampler and isinstance(batch_sampler.sampler, MovieSampler):
        # The whole pass's starts at once: the dataset plans every batch's index work in one step.
        batches = dataset.iter_batches(
            batch_sampler.sampler.next_epoch_starts().numpy(),
            batch_sampler.batch_size,
            batch_sampler.drop_last,
        )
    else:
        batches = map(dataset.__getitems__, batch_sampler)
    # Iterators that hold no batch between steps (batch buffers are reused only once nothing references them).
    return batches if device is None else map(move_batch, batches, itertools.repeat(device))


def cycle(iterable: Any) -> Iterator[Any]:
    """Iterate ``iterable`` again and again, restarting it each time instead of caching its items
    (``itertools.cycle`` would keep a whole pass of batches in memory). An empty iterable is an error."""
    while True:
        empty = True
        for item in iterable:
            empty = False
            yield item
        if empty:
            raise ValueError("cycle(): the iterable yielded nothing, so it cannot be cycled")


def _lazily(loader: Any) -> Iterator[Any]:
    yield from loader


def _plannable(loader: Any) -> bool:
    """Whether every worker can compute this loader's batch plan itself and get the same one: a map-style
    dataset, a plain ``BatchSampler`` over a sampler whose order is a pure function of its state (sequential,
    ours, or a ``RandomSampler`` with its own generator), and no worker processes of its own."""
    if not isinstance(loader, DataLoader) or isinstance(loader.dataset, IterableDataset):
        return False
    batch_sampler = loader.batch_sampler
    if type(batch_sampler) is not BatchSampler or loader.num_workers:
        return False
    from openretina_core.data.sampler import MovieSampler

    sampler = batch_sampler.sampler
    if isinstance(sampler, RandomSampler):
        return sampler.generator is not None
    return type(sampler) is SequentialSampler or isinstance(sampler, MovieSampler)


def _owners(keys: list[str], loaders: Mapping[str, Any], n_workers: int) -> dict[str, int]:
    """The worker that iterates each loader whose plan cannot be shared (iterable datasets, custom or unseeded
    samplers): whole loaders go round-robin to workers in sorted order, so each batch is still made once."""
    unshared = [key for key in sorted(keys) if not _plannable(loaders[key])]
    return {key: i % n_workers for i, key in enumerate(unshared)}


def _loader_len(key: str, loader: Any, cycler: str) -> int:
    try:
        return len(loader)
    except TypeError as exc:
        raise TypeError(
            f"{cycler} needs the number of batches of every loader, but loader {key!r} has no len() (an "
            f"IterableDataset without __len__?). Give its dataset a __len__, or iterate it with ShortCycler."
        ) from exc


_END = object()


def _first_of_new_pass(key: str, iterator: Iterator[Any]) -> Any:
    """The first item of a restarted loader; a clear error where a loader yields nothing at all."""
    item = next(iterator, _END)
    if item is _END:
        raise ValueError(f"loader {key!r} yielded no batch in a whole pass: a LongCycler cannot restart it")
    return item


def _all_reduce_max(value: int) -> int:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        tensor = torch.tensor([value], dtype=torch.long)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return int(tensor.item())
    return value


def _worker_share() -> tuple[int, int]:
    info = get_worker_info()
    if info is None:
        return 0, 1
    return info.id, info.num_workers


class _Cycler(IterableDataset):
    """Shared state of both cyclers: the loaders, the seed and the epoch."""

    def __init__(self, loaders: Mapping[str, Any], seed: int = 0) -> None:
        if not loaders:
            raise ValueError("a cycler needs at least one loader")
        self.loaders = dict(loaders)
        self.seed = int(seed)
        self.epoch = 0
        self._explicit_epoch = False

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

    def _set_sampler_epoch(self, loader: Any, value: int) -> None:
        inner, _ = _unwrap(loader)
        set_epoch = getattr(getattr(inner, "sampler", None), "set_epoch", None)
        if callable(set_epoch):
            set_epoch(value)


class LongCycler(_Cycler):
    """Round-robin over sessions until the longest loader is exhausted; ``len = n_sessions * max_batches``.

    Session order is sorted, then shuffled (if ``shuffle``) with a generator seeded from ``(seed, epoch)``.
    Shorter loaders restart (their samplers reshuffle); no batch is cached. Every loader needs a ``len()``.
    """

    def __init__(self, loaders: Mapping[str, Any], shuffle: bool = True, seed: int = 0) -> None:
        super().__init__(loaders, seed)
        self.shuffle = shuffle

    @property
    def max_batches(self) -> int:
        """Batches in the longest loader (agreed across ranks under ``torch.distributed``)."""
        return _all_reduce_max(self._local_max_batches())

    def _local_max_batches(self) -> int:
        return max(_loader_len(key, loader, "LongCycler") for key, loader in self.loaders.items())

    def __len__(self) -> int:
        return len(self.loaders) * self._local_max_batches()

    def session_order(self, epoch: int) -> list[str]:
        keys = sorted(self.loaders)
        if self.shuffle:
            generator = torch.Generator().manual_seed(derived_seed(self.seed, epoch))
            keys = [keys[i] for i in torch.randperm(len(keys), generator=generator).tolist()]
        return keys

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        epoch = self.epoch
        order = self.session_order(epoch)
        total = len(order) * self.max_batches
        worker, n_workers = _worker_share()
        self._advance()
        if n_workers == 1:
            yield from self._iterate_loaders(order, total, epoch)
        else:
            yield from self._iterate_plan(order, total, epoch, worker, n_workers)

    def _iterate_loaders(self, order: list[str], total: int, epoch: int) -> Iterator[tuple[str, Any]]:
        passes = dict.fromkeys(order, 0)
        # Every session's first pass is planned up front, in one warm loop, rather than between batch copies.
        iterators: dict[str, Iterator[Any]] = {}
        for key in order[: min(total, len(order))]:
            self._set_sampler_epoch(self.loaders[key], epoch * PASS_STRIDE)
            iterators[key] = iter_batches(self.loaders[key])
        for step in range(total):
            key = order[step % len(order)]
            batch = next(iterators[key], _END)
            if batch is _END:
                passes[key] += 1
                self._set_sampler_epoch(self.loaders[key], epoch * PASS_STRIDE + passes[key])
                iterators[key] = iter_batches(self.loaders[key])
                batch = _first_of_new_pass(key, iterators[key])
            yield key, batch

    def _iterate_plan(
        self, order: list[str], total: int, epoch: int, worker: int, n_workers: int
    ) -> Iterator[tuple[str, Any]]:
        """Inside DataLoader worker ``worker``: the same global step sequence as in one process. Shareable
        plans are striped (step ``i`` is fetched by worker ``i % n_workers``); other loaders are iterated
        whole by their one owning worker."""
        inner = {key: _unwrap(loader)[0] for key, loader in self.loaders.items()}
        owners = _owners(order, inner, n_workers)
        passes = dict.fromkeys(order, 0)
        plans: dict[str, Iterator[Any]] = {}
        for step in range(total):
            key = order[step % len(order)]
            owner = owners.get(key)
            if owner is not None and owner != worker:
                continue
            if key not in plans:
                self._set_sampler_epoch(inner[key], epoch * PASS_STRIDE + passes[key])
                plans[key] = iter(inner[key]) if owner is not None else iter(list(inner[key].batch_sampler))
            item = next(plans[key], _END)
            if item is _END:
                passes[key] += 1
                self._set_sampler_epoch(inner[key], epoch * PASS_STRIDE + passes[key])
                plans[key] = iter(inner[key]) if owner is not None else iter(list(inner[key].batch_sampler))
                item = _first_of_new_pass(key, plans[key])
            if owner is not None:
                yield key, item
            elif step % n_workers == worker:
                yield key, _fetch(inner[key], list(cast(Iterable[int], item)))


class ShortCycler(_Cycler):
    """Each session's loader exactly once, sessions in sorted order; ``len`` = total number of batches.

    Exact for evaluation: with workers each batch is fetched by exactly one worker; under DDP the loaders'
    samplers shard without padding, so the union over ranks is every sample once. Loaders without ``len()``
    can be iterated (only ``len(cycler)`` needs one).
    """

    def __init__(self, loaders: Mapping[str, Any]) -> None:
        super().__init__(loaders, seed=0)

    def __len__(self) -> int:
        return sum(_loader_len(key, loader, "len(ShortCycler)") for key, loader in self.loaders.items())

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        worker, n_workers = _worker_share()
        if n_workers == 1:
            for key in sorted(self.loaders):
                for batch in iter_batches(self.loaders[key]):
                    yield key, batch
            return
        inner = {key: _unwrap(loader)[0] for key, loader in self.loaders.items()}
        owners = _owners(list(inner), inner, n_workers)
        step = 0
        for key in sorted(inner):
            if key in owners:
                if owners[key] == worker:
                    for batch in inner[key]:
                        yield key, batch
                continue
            for indices in list(inner[key].batch_sampler):
                if step % n_workers == worker:
                    yield key, _fetch(inner[key], list(indices))
                step += 1


class CyclerDataLoader(DataLoader):
    """A DataLoader over a cycler that advances the cycler's epoch each pass (also with worker processes)
    and moves batches to the device of the wrapped loaders in the main process."""

    def __init__(self, cycler: _Cycler, num_workers: int = 0, pin_memory: bool = False) -> None:
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
        devices = {_unwrap(loader)[1] for loader in cycler.loaders.values()}
        self.device = devices.pop() if len(devices) == 1 else None

    def __len__(self) -> int:
        return len(self.cycler)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        self._epoch = int(epoch)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        from openretina_core.data.device import move_batch

        self.cycler.set_epoch(self._epoch)
        self._epoch += 1
        iterator = super().__iter__()
        if self.num_workers == 0:
            # In-process: the cycler iterates the (possibly device-wrapped) loaders itself.
            yield from iterator
            return
        for key, batch in iterator:
            yield key, (move_batch(batch, self.device) if self.device is not None else batch)


def _identity(x: Any) -> Any:
    return x
