"""Cyclers over every kind of torch DataLoader: map-style and iterable datasets, shuffled with or without a
seeded generator, custom batch samplers, unbatched loaders, loaders without ``len()``; in one process and
inside DataLoader workers (where openretina's cyclers hang or refuse)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import BatchSampler, DataLoader, Dataset, IterableDataset, Sampler, SequentialSampler

from openretina_core import LongCycler, ShortCycler
from openretina_core.data.cyclers import cycle

KINDS = ("sequential", "shuffled", "seeded", "iterable", "custom_batches", "unbatched")


class Numbers(Dataset[int]):
    """Map-style: item ``i`` is ``offset + i``."""

    def __init__(self, offset: int, size: int) -> None:
        self.offset, self.size = offset, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> int:
        return self.offset + index


class StreamedNumbers(IterableDataset[int]):
    """Iterable: yields ``offset .. offset + size - 1``; ``__len__`` only when ``sized``."""

    def __init__(self, offset: int, size: int, sized: bool = True) -> None:
        self.offset, self.size, self.sized = offset, size, sized

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.offset, self.offset + self.size))

    def __len__(self) -> int:
        if not self.sized:
            raise TypeError("no length")
        return self.size


class ReversedPairs(Sampler[list[int]]):
    """A custom batch sampler: pairs of indices, last pair first."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __iter__(self) -> Iterator[list[int]]:
        pairs = [list(range(i, min(i + 2, self.size))) for i in range(0, self.size, 2)]
        return iter(pairs[::-1])

    def __len__(self) -> int:
        return (self.size + 1) // 2


def make_loader(kind: str, offset: int, size: int, batch_size: int) -> DataLoader:
    data = Numbers(offset, size)
    if kind == "sequential":
        return DataLoader(data, batch_size=batch_size)
    if kind == "shuffled":  # unseeded: every process would draw its own order
        return DataLoader(data, batch_size=batch_size, shuffle=True)
    if kind == "seeded":
        return DataLoader(
            data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(offset)
        )
    if kind == "iterable":
        return DataLoader(StreamedNumbers(offset, size), batch_size=batch_size)
    if kind == "custom_batches":
        return DataLoader(data, batch_sampler=ReversedPairs(size))
    if kind == "unbatched":
        return DataLoader(data, batch_size=None, sampler=SequentialSampler(data))
    raise ValueError(kind)


def elements(batch: object) -> list[int]:
    return [int(v) for v in torch.as_tensor(batch).reshape(-1).tolist()]


def build(
    kinds: list[str], sizes: list[int], batch_size: int
) -> tuple[dict[str, DataLoader], dict[str, set]]:
    loaders, contents = {}, {}
    for i, (kind, size) in enumerate(zip(kinds, sizes)):
        key = f"s{i}"
        loaders[key] = make_loader(kind, 1000 * (i + 1), size, batch_size)
        contents[key] = set(range(1000 * (i + 1), 1000 * (i + 1) + size))
    return loaders, contents


def run(cycler: object, num_workers: int) -> list[tuple[str, list[int]]]:
    iterable = cycler if num_workers == 0 else DataLoader(cycler, batch_size=None, num_workers=num_workers)
    return [(key, elements(batch)) for key, batch in iterable]  # type: ignore[attr-defined]


sessions = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(1, 9)), min_size=1, max_size=4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions=sessions, batch_size=st.integers(1, 3), num_workers=st.sampled_from([0, 2, 3]))
def test_short_cycler_yields_every_element_exactly_once(sessions, batch_size, num_workers) -> None:
    kinds, sizes = [k for k, _ in sessions], [n for _, n in sessions]
    loaders, contents = build(kinds, sizes, batch_size)
    pairs = run(ShortCycler(loaders), num_workers)
    for key, values in pairs:
        assert set(values) <= contents[key], "a batch carries its own session's elements"
    got = Counter(v for _, values in pairs for v in values)
    assert got == Counter(v for c in contents.values() for v in c)
    assert len(pairs) == len(ShortCycler(loaders))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sessions=sessions,
    batch_size=st.integers(1, 3),
    num_workers=st.sampled_from([0, 2, 3]),
    shuffle=st.booleans(),
)
def test_long_cycler_gives_every_session_max_batches_and_every_element(
    sessions, batch_size, num_workers, shuffle
) -> None:
    kinds, sizes = [k for k, _ in sessions], [n for _, n in sessions]
    loaders, contents = build(kinds, sizes, batch_size)
    cycler = LongCycler(loaders, shuffle=shuffle, seed=4)
    pairs = run(cycler, num_workers)
    assert len(pairs) == len(cycler) == len(loaders) * cycler.max_batches
    assert Counter(key for key, _ in pairs) == dict.fromkeys(loaders, cycler.max_batches)
    for key in loaders:
        seen = {v for k, values in pairs if k == key for v in values}
        assert seen == contents[key], f"{key}: a full pass at least"


# openretina 1.1.1's own cycler tests, restated: IterableDataset loaders of batch size 1, wrapped in a
# DataLoader with workers.
@pytest.mark.parametrize("num_workers", [0, 1, 3, 4])
def test_short_cycler_with_iterable_loaders_and_workers(num_workers: int) -> None:
    loaders, contents = build(["iterable"] * 4, [1, 20, 5, 10], batch_size=1)
    pairs = run(ShortCycler(loaders), num_workers)
    assert sorted(v for _, values in pairs for v in values) == sorted(v for c in contents.values() for v in c)


@pytest.mark.parametrize(
    ("num_workers", "shuffle"), [(0, False), (0, True), (1, False), (1, True), (4, False), (4, True)]
)
def test_long_cycler_with_iterable_loaders_and_workers(num_workers: int, shuffle: bool) -> None:
    loaders, contents = build(["iterable"] * 4, [1, 20, 5, 1], batch_size=1)
    pairs = run(LongCycler(loaders, shuffle=shuffle), num_workers)
    everything = {v for c in contents.values() for v in c}
    assert len(pairs) >= len(everything)
    assert {v for _, values in pairs for v in values} == everything


def test_loaders_without_len_iterate_but_length_is_a_clear_error() -> None:
    loaders = {
        "a": DataLoader(StreamedNumbers(0, 5, sized=False), batch_size=2),
        "b": make_loader("sequential", 10, 3, 2),
    }
    short = ShortCycler(loaders)
    assert sorted(v for _, values in run(short, 0) for v in values) == [0, 1, 2, 3, 4, 10, 11, 12]
    assert sorted(v for _, values in run(short, 2) for v in values) == [0, 1, 2, 3, 4, 10, 11, 12]
    with pytest.raises(TypeError, match=r"loader 'a' has no len\(\)"):
        len(short)
    with pytest.raises(TypeError, match=r"LongCycler needs the number of batches.*loader 'a'"):
        list(LongCycler(loaders))


def test_an_empty_loader_cannot_be_restarted() -> None:
    class Liar(StreamedNumbers):
        def __len__(self) -> int:  # claims items it never yields
            return 3

    loaders = {"a": make_loader("sequential", 0, 6, 1), "empty": DataLoader(Liar(0, 0), batch_size=1)}
    with pytest.raises(ValueError, match="loader 'empty' yielded no batch"):
        list(LongCycler(loaders, shuffle=False))


def test_max_batches_is_the_longest_loader() -> None:
    loaders, _ = build(["sequential", "iterable"], [7, 3], batch_size=2)
    assert LongCycler(loaders).max_batches == 4


def test_cycle_restarts_without_caching() -> None:
    passes = []

    class Counting:
        def __iter__(self) -> Iterator[int]:
            passes.append(1)
            return iter([1, 2])

    stream = cycle(Counting())
    assert [next(stream) for _ in range(5)] == [1, 2, 1, 2, 1]
    assert len(passes) == 3, "each pass iterates the source again"
    with pytest.raises(ValueError, match="yielded nothing"):
        next(cycle([]))


def test_a_plain_batch_sampler_loader_is_served_in_order() -> None:
    loader = DataLoader(Numbers(0, 4), batch_sampler=BatchSampler(SequentialSampler(range(4)), 2, False))
    assert [elements(b) for _, b in ShortCycler({"x": loader})] == [[0, 1], [2, 3]]
