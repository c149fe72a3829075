"""How a cycler goes through one loader: one pass of batches (fetched straight from the dataset for this
package's own movie loaders), starting after the batches already delivered when a pass is resumed, restarts,
which loaders DataLoader workers can share, and the round-robin over the sessions' open passes.

The cycler classes (``cyclers.py``) build on these; the resumable state (``cycler_state.py``) decides where a
pass starts.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    get_worker_info,
)

if TYPE_CHECKING:
    from openretina_core.data.cycler_state import Progress

# A session's p-th pass in cycler epoch e runs its sampler at epoch e * PASS_STRIDE + p.
PASS_STRIDE = 1 << 20

# A round-robin over more sessions than this copies every batch on its own: each suspended pass of grouped
# copies holds a group buffer, and the shared batch buffer pool keeps eight.
GROUPED_PASSES_MAX = 3


def unwrap(loader: Any) -> tuple[Any, torch.device | None]:
    """The torch loader inside a ``DeviceDataLoader`` and its device (``None`` for a plain loader)."""
    from openretina_core.data.device import DeviceDataLoader

    if isinstance(loader, DeviceDataLoader):
        return loader.loader, loader.device
    return loader, None


def fetch(loader: DataLoader, indices: list[int]) -> Any:
    """One batch of a map-style loader, as iterating it in-process would make it."""
    dataset = loader.dataset
    getitems = getattr(dataset, "__getitems__", None)
    samples = getitems(indices) if getitems is not None else [dataset[i] for i in indices]
    return loader.collate_fn(samples) if loader.collate_fn is not None else samples


def iter_batches(loader: Any, skip: int = 0, grouped: bool = True) -> Iterator[Any]:
    """Iterate a loader, leaving out its first ``skip`` batches (a resumed pass). For this package's own
    in-process movie loaders, fetch straight from the batch sampler and the dataset's batched
    ``__getitems__``: the same batches in the same order as iterating the DataLoader, without its per-batch
    machinery (~10 % of a small batch's cost). For those, the pass's index work is planned here, at once; any
    other loader is only iterated once its first batch is asked for.

    Skipped batches are not fetched where the loader has a batch sampler over a map-style dataset and no
    random generator (only their indices are drawn, so the sampler advances exactly as in the full pass);
    other loaders (iterable datasets, seeded shuffling) are iterated and the skipped batches dropped.

    ``grouped``: this package's loaders may copy small batches a few at a time (``ChunkGatherer.fetch_groups``),
    so a suspended pass holds one group's buffer; a caller that keeps many passes suspended at once passes
    False (see ``GROUPED_PASSES_MAX``)."""
    from openretina_core.data.device import move_batch, moves_nothing
    from openretina_core.data.movie_dataset import MovieDataset, passthrough_collate
    from openretina_core.data.sampler import MovieSampler

    if skip < 0:
        raise ValueError(f"skip must be >= 0, got {skip}")
    inner, device = unwrap(loader)
    decode = getattr(loader, "_decode", None)  # a DeviceDataLoader's decode of compact inputs after the move
    direct = (
        isinstance(inner, DataLoader)
        and isinstance(inner.dataset, MovieDataset)
        and inner.num_workers == 0
        and not inner.pin_memory
        and inner.collate_fn is passthrough_collate
        and inner.batch_sampler is not None
    )
    batches: Iterator[Any]
    if direct:
        dataset = inner.dataset
        batch_sampler = inner.batch_sampler
        if type(batch_sampler) is BatchSampler and isinstance(batch_sampler.sampler, MovieSampler):
            # The whole pass's starts at once: the dataset plans every batch's index work in one step.
            size = batch_sampler.batch_size
            starts = batch_sampler.sampler.next_epoch_starts().numpy()[skip * size :]
            if grouped:
                batches = dataset.iter_batches(starts, size, batch_sampler.drop_last)
            else:  # (only then: a subclass that overrides iter_batches need not know the option)
                batches = dataset.iter_batches(starts, size, batch_sampler.drop_last, grouped=False)
            if (
                device is not None
                and decode is None
                and moves_nothing(device, dataset.movie, dataset.responses)
            ):
                return batches
        else:
            batches = map(dataset.__getitems__, itertools.islice(iter(batch_sampler), skip, None))
    elif not skip:
        return _lazily(loader)
    elif _indexable(inner):
        remaining = itertools.islice(iter(inner.batch_sampler), skip, None)
        batches = (fetch(inner, list(indices)) for indices in remaining)
    else:
        return itertools.islice(_lazily(loader), skip, None)
    # Iterators that hold no batch between steps (batch buffers are reused only once nothing references them).
    if device is None:
        return batches
    moved = map(move_batch, batches, itertools.repeat(device))
    return moved if decode is None else map(functools.partial(_decoded, decode), moved)


def _decoded(decode: Any, batch: Any) -> Any:
    """A moved batch with its compact inputs decoded, as ``DeviceDataLoader`` delivers it."""
    return batch._replace(inputs=decode(batch.inputs)) if hasattr(batch, "_replace") else batch


def _indexable(loader: Any) -> bool:
    """A map-style DataLoader with a batch sampler and no random generator of its own: its batches can be
    skipped by their indices alone. (Iterating a DataLoader also draws from its generator, so a loader with
    one is skipped by iterating it, to leave the generator exactly where the full pass leaves it.)"""
    return (
        isinstance(loader, DataLoader)
        and not isinstance(loader.dataset, IterableDataset)
        and loader.batch_sampler is not None
        and not generators_of(loader)
    )


def generators_of(loader: Any) -> list[torch.Generator]:
    """The distinct ``torch.Generator`` objects a loader draws its order from (its own, its samplers')."""
    inner, _ = unwrap(loader)
    found: list[torch.Generator] = []
    for owner in (inner, getattr(inner, "sampler", None), getattr(inner, "batch_sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
            found.append(generator)
    return found


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


def plannable(loader: Any) -> bool:
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


def owners(keys: list[str], loaders: Mapping[str, Any], n_workers: int) -> dict[str, int]:
    """The worker that iterates each loader whose plan cannot be shared (iterable datasets, custom or unseeded
    samplers): whole loaders go round-robin to workers in sorted order, so each batch is still made once."""
    unshared = [key for key in sorted(keys) if not plannable(loaders[key])]
    return {key: i % n_workers for i, key in enumerate(unshared)}


def loader_len(key: str, loader: Any, cycler: str) -> int:
    try:
        return len(loader)
    except TypeError as exc:
        raise TypeError(
            f"{cycler} needs the number of batches of every loader, but loader {key!r} has no len() (an "
            f"IterableDataset without __len__?). Give its dataset a __len__, or iterate it with ShortCycler."
        ) from exc


END = object()


def first_of_new_pass(key: str, iterator: Iterator[Any]) -> Any:
    """The first item of a restarted loader; a clear error where a loader yields nothing at all."""
    item = next(iterator, END)
    if item is END:
        raise ValueError(f"loader {key!r} yielded no batch in a whole pass: a LongCycler cannot restart it")
    return item


def all_reduce_max(value: int) -> int:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        tensor = torch.tensor([value], dtype=torch.long)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return int(tensor.item())
    return value


def worker_share() -> tuple[int, int]:
    info = get_worker_info()
    if info is None:
        return 0, 1
    return info.id, info.num_workers


def set_sampler_epoch(loader: Any, value: int) -> None:
    inner, _ = unwrap(loader)
    set_epoch = getattr(getattr(inner, "sampler", None), "set_epoch", None)
    if callable(set_epoch):
        set_epoch(value)


def round_robin(
    order: list[str], iterators: Mapping[str, Iterator[Any]], start: int, total: int, progress: Progress
) -> Iterator[tuple[str, Any]]:
    """Steps ``start`` to ``total`` of a round-robin over the sessions' open passes, each pair counted into
    ``progress`` before it is handed out, until the end or until a pass runs out (the caller restarts it).
    Made of C iterators only: a one-image batch costs ~50 us, and a Python step per pair (next, count,
    yield) cost ~4 us of it."""
    offset = start % len(order)

    def rotated(items: list[Any]) -> Iterator[Any]:  # items[offset], items[offset + 1], ... round and round
        return itertools.islice(itertools.cycle(items), offset, None)

    passes = rotated([iterators[key] for key in order])
    batches = itertools.islice(map(next, passes), total - start)  # ends early where a pass runs out
    steps = map(functools.partial(setattr, progress, "step"), itertools.count(start + 1))
    counters = [itertools.count(progress.consumed[key] + 1) for key in order]
    counted = map(
        operator.setitem, itertools.repeat(progress.consumed), rotated(order), map(next, rotated(counters))
    )
    # zip takes a key, then a batch, and counts the pair only once it has its batch.
    return map(operator.itemgetter(0, 1), zip(rotated(order), batches, steps, counted))
