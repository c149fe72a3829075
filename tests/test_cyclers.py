"""Cyclers: order, length, restarts; exactness with DataLoader workers and under torch.distributed."""

from __future__ import annotations

import json
import socket
from collections import Counter

import pytest
import torch
from cycler_fixtures import LENGTHS, build, ddp_worker, first_frames
from torch.utils.data import DataLoader, TensorDataset

from openretina_core import LongCycler, ShortCycler


def test_long_cycler_round_robin_until_longest_is_exhausted() -> None:
    loaders = build()["train"]
    lengths = {k: len(v) for k, v in loaders.items()}
    cycler = LongCycler(loaders, shuffle=False)
    pairs = list(cycler)
    assert len(pairs) == len(cycler) == 3 * max(lengths.values())
    assert [k for k, _ in pairs[:6]] == ["a", "b", "c", "a", "b", "c"]
    counts = Counter(k for k, _ in pairs)
    assert set(counts.values()) == {max(lengths.values())}
    b_batches = [first_frames(batch) for key, batch in pairs if key == "b"]
    first_pass = b_batches[: lengths["b"]]
    restart = b_batches[lengths["b"] :]
    assert restart and restart[0] != first_pass[0], "a restarted loader reshuffles"
    for key, batch in pairs:  # batches carry their own session's data
        offset = 100_000 * (sorted(LENGTHS).index(key) + 1)
        assert all(offset <= v < offset + LENGTHS[key] for v in first_frames(batch))


def test_long_cycler_shuffles_sessions_by_seed_and_epoch() -> None:
    loaders = build()["train"]
    cycler = LongCycler(loaders, shuffle=True, seed=5)
    orders = {tuple(cycler.session_order(e)) for e in range(10)}
    assert len(orders) > 1
    assert cycler.session_order(3) == LongCycler(loaders, seed=5).session_order(3)


def test_short_cycler_visits_each_batch_once_in_sorted_order() -> None:
    loaders = build()["validation"]
    pairs = list(ShortCycler(loaders))
    assert len(pairs) == len(ShortCycler(loaders)) == sum(len(v) for v in loaders.values())
    assert [k for k, _ in pairs] == sorted(k for k, _ in pairs)


def _signature(pairs) -> list:
    return [(key, first_frames(batch)) for key, batch in pairs]


@pytest.mark.parametrize("num_workers", [2, 3])
def test_workers_neither_duplicate_nor_lose_batches(num_workers: int) -> None:
    reference = LongCycler(build()["train"], seed=2)
    expected = [_signature(reference) for _ in range(2)]
    worker_cycler = LongCycler(build()["train"], seed=2)
    loader = worker_cycler.as_dataloader(num_workers=num_workers)
    got = [_signature(loader) for _ in range(2)]
    assert got == expected, "with workers the stream equals the single-process stream, epoch by epoch"
    short = ShortCycler(build()["validation"]).as_dataloader(num_workers=num_workers)
    assert _signature(short) == _signature(ShortCycler(build()["validation"]))


def test_unseeded_random_sampler_is_iterated_by_one_worker_only() -> None:
    """Each worker would draw its own order, so such a loader is not striped but owned by one worker: every
    sample still comes exactly once per pass."""
    data = TensorDataset(torch.arange(20.0))
    cycler = LongCycler({"x": DataLoader(data, batch_size=4, shuffle=True)})
    values = [v for _, (batch,) in cycler.as_dataloader(num_workers=2) for v in batch.tolist()]
    assert sorted(values) == [float(v) for v in range(20)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_distributed_ranks_get_disjoint_equal_shares(tmp_path) -> None:
    torch.multiprocessing.spawn(ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["len"] == ranks[1]["len"]
    full = build(distributed=False)
    for epoch in range(2):
        seq0, seq1 = ranks[0]["train"][epoch], ranks[1]["train"][epoch]
        assert len(seq0) == len(seq1), "every rank takes the same number of steps"
        assert [k for k, _ in seq0] == [k for k, _ in seq1], "all ranks are on the same session at each step"
        for session in LENGTHS:
            n_rank = ranks[0]["loader_lens"][session]
            assert n_rank == ranks[1]["loader_lens"][session] == len(full["train"][session].sampler) // 2 // 8
            # The first pass over each rank's loader: the two ranks' chunks never coincide.
            chunk_starts = []
            for seq in (seq0, seq1):
                batches = [frames for key, frames in seq if key == session][:n_rank]
                chunk_starts.append({frames[i] for frames in batches for i in range(0, len(frames), 20)})
            assert len(chunk_starts[0]) == len(chunk_starts[1]) == n_rank * 8
            assert not chunk_starts[0] & chunk_starts[1], f"ranks shared training chunks of {session}"
    eval0 = [(k, tuple(f)) for k, f in ranks[0]["eval"]]
    eval1 = [(k, tuple(f)) for k, f in ranks[1]["eval"]]
    clips = Counter((k, v) for k, frames in eval0 + eval1 for v in frames[::100])
    expected = Counter(
        (k, v) for k, batch in ShortCycler(full["validation"]) for v in first_frames(batch)[::100]
    )
    assert clips == expected, "evaluation under DDP covers every clip exactly once (no padded duplicates)"


def test_direct_fetch_equals_iterating_the_dataloader() -> None:
    from openretina_core.data.cyclers import iter_batches

    via_loader = [first_frames(b) for b in build()["train"]["a"]]
    direct = [first_frames(b) for b in iter_batches(build()["train"]["a"])]
    assert via_loader == direct and len(direct) == len(build()["train"]["a"])


def test_other_loaders_are_only_iterated_when_their_first_batch_is_due() -> None:
    """Planning every session's first pass up front applies to our own movie loaders only: any other loader
    (e.g. one with its own worker processes) is started when the round-robin first reaches it."""
    started: list[str] = []

    class Recording(DataLoader):
        def __init__(self, name: str) -> None:
            super().__init__(TensorDataset(torch.arange(6.0)), batch_size=2)
            self.name = name

        def __iter__(self):  # type: ignore[no-untyped-def]
            started.append(self.name)
            return super().__iter__()

    cycler = LongCycler({"a": Recording("a"), "b": Recording("b"), "c": Recording("c")}, shuffle=False)
    pairs = iter(cycler)
    assert next(pairs)[0] == "a" and started == ["a"]
    assert next(pairs)[0] == "b" and started == ["a", "b"]
    assert len(list(pairs)) == 3 * 3 - 2
