"""Small batches copied a few at a time (``ChunkGatherer.fetch_groups``, issue 14) are exactly the batches of
one copy each, and the cycler's C-iterator round-robin counts, restarts and resumes as its Python loop did."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from openretina_core import LongCycler
from openretina_core.data.batch_buffers import BATCH_BUFFERS
from openretina_core.data.cycler_passes import GROUPED_PASSES_MAX
from openretina_core.data.gather import GROUP_MAX_BATCHES
from openretina_core.data.movie_dataset import MovieDataset
from openretina_core.data.sampler import make_movie_dataloader


def clip_dataset(chunk: int, row: int, seed: int) -> MovieDataset:
    """48 frames in clips of 8 shown in a shuffled order, so some chunks cross a seam (row gathers) and the
    rest are consecutive in storage (window blocks where rows are small)."""
    frames = 48
    movie = torch.arange(frames * row, dtype=torch.float32).reshape(frames, 1, 1, row)
    responses = torch.arange(frames * 3, dtype=torch.float32).reshape(frames, 3) + 0.5
    index = (np.random.default_rng(seed).permutation(6)[:, None] * 8 + np.arange(8)).reshape(-1)
    return MovieDataset(movie, responses, chunk, movie_index=index, response_index=index)


@settings(max_examples=80, deadline=None)
@given(
    chunk=st.integers(1, 5),
    row=st.sampled_from([2, 3000]),  # window blocks, and rows too large for windows
    batch_size=st.integers(1, 6),
    count=st.integers(1, 40),
    drop_last=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_grouped_batches_equal_single_copies(chunk, row, batch_size, count, drop_last, seed) -> None:
    dataset = clip_dataset(chunk, row, seed)
    starts = np.random.default_rng(seed + 1).integers(0, len(dataset), size=count)
    grouped = list(
        dataset.iter_batches(starts, batch_size, drop_last)
    )  # all kept: no buffer reused under them
    single = list(dataset.iter_batches(starts, batch_size, drop_last, grouped=False))
    assert len(grouped) == len(single) == (count // batch_size if drop_last else -(-count // batch_size))
    for number, (got, want) in enumerate(zip(grouped, single)):
        general = dataset.__getitems__(starts[number * batch_size : (number + 1) * batch_size].tolist())
        for a, b, c in zip(got, want, general):
            assert a.shape == b.shape == c.shape and a.stride() == b.stride() == c.stride()
            assert torch.equal(a, b) and torch.equal(a, c)


def test_a_group_is_one_copy_into_one_buffer() -> None:
    dataset = clip_dataset(chunk=1, row=3000, seed=0)
    batches = list(dataset.iter_batches(np.arange(40), 4, drop_last=False))
    buffers = [batch.inputs.untyped_storage().data_ptr() for batch in batches]
    group = GROUP_MAX_BATCHES
    assert len(set(buffers[:group])) == 1 and buffers[group] != buffers[0]  # batches of 48 KB: full groups
    assert len(set(buffers)) == -(-len(batches) // group)  # all kept, so every group has its own buffer


def test_grouped_batches_without_the_pool(monkeypatch) -> None:
    """Where the pool declines (it cannot tell free buffers), each group gets a buffer of its own."""
    dataset = clip_dataset(chunk=2, row=3000, seed=3)
    starts = np.arange(0, 45, 2)
    want = list(dataset.iter_batches(starts, 3, drop_last=False, grouped=False))
    monkeypatch.setattr(BATCH_BUFFERS, "take_base", lambda *args, **kwargs: None)
    got = list(dataset.iter_batches(starts, 3, drop_last=False))
    assert all(
        torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets) for a, b in zip(got, want)
    )


def test_a_cycler_over_many_sessions_copies_batches_one_by_one() -> None:
    """Each suspended pass of grouped copies holds a group buffer: over more sessions than
    ``GROUPED_PASSES_MAX`` the cycler copies every batch on its own, so the pool still reuses a few buffers."""
    movie = torch.rand(96, 1, 1, 3000)
    loaders = {
        f"s{session}": make_movie_dataloader(
            MovieDataset(movie, torch.rand(96, 3), 1), 4, np.arange(90), train=True, seed=session
        )
        for session in range(GROUPED_PASSES_MAX + 2)
    }
    cycler = LongCycler(loaders, seed=0)
    for _ in cycler:  # warm: the pool holds this shape's buffers
        pass
    seen = {batch.inputs.untyped_storage().data_ptr() for _key, batch in cycler}
    assert len(seen) <= 2 and len(BATCH_BUFFERS.buffers) <= BATCH_BUFFERS.size


def sessions_of_lengths(
    lengths: dict[str, int], batch_size: int = 2
) -> dict[str, torch.utils.data.DataLoader]:
    movie = torch.arange(64 * 3000, dtype=torch.float32).reshape(64, 1, 1, 3000)
    return {
        key: make_movie_dataloader(
            MovieDataset(movie, torch.arange(64 * 2, dtype=torch.float32).reshape(64, 2), 1),
            batch_size,
            np.arange(batches * batch_size),
            train=True,
            seed=len(key) + batches,
        )
        for key, batches in lengths.items()
    }


def reference_pairs(cycler: LongCycler) -> list[tuple[str, int]]:
    """The epoch as the plain round-robin loop makes it: each session's pass restarted when it runs out."""
    from openretina_core.data.cycler_passes import PASS_STRIDE, iter_batches, set_sampler_epoch

    epoch, order = cycler.epoch, cycler.session_order(cycler.epoch)
    passes = dict.fromkeys(order, 0)
    iterators = {}
    for key in order:
        set_sampler_epoch(cycler.loaders[key], epoch * PASS_STRIDE)
        iterators[key] = iter_batches(cycler.loaders[key], grouped=False)
    pairs = []
    for step in range(len(cycler)):
        key = order[step % len(order)]
        batch = next(iterators[key], None)
        if batch is None:
            passes[key] += 1
            set_sampler_epoch(cycler.loaders[key], epoch * PASS_STRIDE + passes[key])
            iterators[key] = iter_batches(cycler.loaders[key], grouped=False)
            batch = next(iterators[key])
        pairs.append((key, int(batch.inputs[0, 0, 0, 0, 0])))
    return pairs


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.dictionaries(st.sampled_from("abcde"), st.integers(1, 6), min_size=1, max_size=4),
    seed=st.integers(0, 100),
    stop=st.integers(0, 30),
)
def test_round_robin_counts_restarts_and_resumes(lengths, seed, stop) -> None:
    """Sessions of different lengths: the pairs are the plain loop's, each step's state counts the pairs
    received, and a fresh cycler resumed from any step yields exactly the rest."""
    cycler = LongCycler(sessions_of_lengths(lengths), seed=seed)
    want = reference_pairs(cycler)
    received: dict[str, int] = {}
    got, states = [], []
    for step, (key, batch) in enumerate(cycler, start=1):
        received[key] = received.get(key, 0) + 1
        state = cycler.state_dict()
        assert state["step"] == step and state["consumed"] == dict(sorted(received.items()))
        got.append((key, int(batch.inputs[0, 0, 0, 0, 0])))
        states.append(state)
    assert got == want
    stop = min(stop, len(states) - 1)
    resumed = LongCycler(sessions_of_lengths(lengths), seed=seed)
    resumed.load_state_dict(states[stop])
    assert [(key, int(batch.inputs[0, 0, 0, 0, 0])) for key, batch in resumed] == want[stop + 1 :]


def test_pass_targets_by_numpy_and_by_torch_agree() -> None:
    """A pass's targets come from numpy's take where numpy reads the source, else from torch (bfloat16)."""
    from openretina_core.data.gather import ChunkGatherer

    values = torch.arange(40 * 3, dtype=torch.float32).reshape(40, 3)
    index = torch.as_tensor(np.random.default_rng(5).permutation(40))
    starts = np.array([0, 7, 3, 30, 12, 21, 5])
    for chunk in (1, 3):
        by_numpy = ChunkGatherer(values, index, chunk).gather_batches(starts, 2)
        by_torch = ChunkGatherer(values.to(torch.bfloat16), index, chunk).gather_batches(starts, 2)
        assert len(by_numpy) == len(by_torch) == 4
        for a, b in zip(by_numpy, by_torch):
            assert a.shape == b.shape == (len(a), chunk, 3) and b.dtype == torch.bfloat16
            assert torch.equal(a, b.float())
