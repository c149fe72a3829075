"""The lean per-batch path (issue 14: one-image batches) yields exactly what the general path yields: batches
written into pooled buffers and handed out as strided views, plans shared by movie and responses for chunks of
one frame, the sampler's numpy arithmetic, and the cycler's inline counting."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from openretina_core import LongCycler
from openretina_core.data.gather import WINDOW_MAX_ROW_BYTES, ChunkGatherer, permuted_layout
from openretina_core.data.movie_dataset import INPUT_ORDER, MovieDataset
from openretina_core.data.sampler import MovieSampler, derived_seed, make_movie_dataloader


def torch_epoch_starts(sampler: MovieSampler, epoch: int) -> torch.Tensor:
    """The sampler's formula as torch operations throughout (what ``epoch_starts`` computed before)."""
    starts = sampler.starts.clone()
    if sampler.shuffle:
        generator = torch.Generator().manual_seed(derived_seed(sampler.seed, epoch))
        last_start = sampler.sequence_length - sampler.chunk_size
        if sampler.shift == "over_boundaries":
            shifts = torch.randint(0, sampler.chunk_size, (len(starts),), generator=generator)
            starts = torch.clamp(starts + shifts, max=last_start)
        elif sampler.shift == "within_clips" and sampler.clip_starts is not None:
            shifts = torch.randint(0, max(1, sampler.chunk_size // 2), (len(starts),), generator=generator)
            clip_idx = torch.searchsorted(sampler.clip_starts, starts, right=True) - 1
            clip_begin = sampler.clip_starts[clip_idx]
            clip_ends = torch.cat([sampler.clip_starts[1:], torch.tensor([sampler.sequence_length])])[
                clip_idx
            ]
            limit = torch.maximum(clip_ends - sampler.chunk_size, clip_begin)
            starts = torch.minimum(torch.clamp(starts + shifts, max=last_start), limit)
        starts = starts[torch.randperm(len(starts), generator=generator)]
    if sampler.num_replicas > 1:
        n = len(starts)
        if sampler.even_shards:
            starts = starts[: n - n % sampler.num_replicas]
        starts = starts[sampler.rank :: sampler.num_replicas]
    return starts


@settings(max_examples=150, deadline=None)
@given(
    clip=st.integers(1, 12),
    n_clips=st.integers(1, 10),
    chunk=st.integers(1, 12),
    shift=st.sampled_from(["none", "over_boundaries", "within_clips"]),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**31),
    epoch=st.integers(0, 5),
    replicas=st.integers(1, 3),
    even=st.booleans(),
    data=st.data(),
)
def test_sampler_starts_equal_the_torch_formula(
    clip, n_clips, chunk, shift, shuffle, seed, epoch, replicas, even, data
) -> None:
    length = clip * n_clips
    chunk = min(chunk, length)
    clip_starts = np.arange(0, length, clip)
    starts = np.arange(0, length - chunk + 1, max(1, chunk // 2))
    sampler = MovieSampler(
        starts,
        chunk,
        length,
        shuffle=shuffle,
        shift=shift,
        clip_starts=clip_starts,
        seed=seed,
        num_replicas=replicas,
        rank=data.draw(st.integers(0, replicas - 1)),
        even_shards=even,
    )
    for e in (epoch, epoch + 1, epoch):  # the cached clip limits serve every epoch
        got = sampler.epoch_starts(e)
        assert got.dtype == torch.long
        assert torch.equal(got, torch_epoch_starts(sampler, e))


@settings(max_examples=100, deadline=None)
@given(
    chunk=st.integers(1, 6),
    width=st.sampled_from([2, WINDOW_MAX_ROW_BYTES // 4 + 1]),  # window blocks, or row gathers
    order=st.sampled_from([None, INPUT_ORDER]),
    data=st.data(),
)
def test_fetch_with_an_order_is_the_permuted_batch(chunk, width, order, data) -> None:
    source = torch.arange(30 * 2 * width, dtype=torch.float32).reshape(30, 2, 1, width)
    gatherer = ChunkGatherer(source, None, chunk)
    starts = np.asarray(data.draw(st.lists(st.integers(0, 30 - chunk), min_size=1, max_size=6)))
    for whole, index in gatherer.plan(starts, batch_size=data.draw(st.integers(1, 6))):
        plain = gatherer.fetch(whole, index).clone()
        got = gatherer.fetch(whole, index, order)
        want = plain if order is None else plain.permute(order)
        assert got.shape == want.shape and got.stride() == want.stride()
        assert torch.equal(got, want)
        assert got.untyped_storage().nbytes() == plain.numel() * 4  # a view of one batch buffer, no copy


def test_permuted_layout_is_torchs() -> None:
    for shape in [(3, 4, 2, 5, 6), (1, 1, 1, 7, 1), (0, 3, 2, 1, 4)]:
        reference = torch.empty(shape).permute(INPUT_ORDER)
        assert permuted_layout(shape, INPUT_ORDER) == (tuple(reference.shape), reference.stride())
        assert permuted_layout(shape, None) == (shape, torch.empty(shape).stride())


@settings(max_examples=60, deadline=None)
@given(
    width=st.sampled_from([3, WINDOW_MAX_ROW_BYTES // 4 + 1]),
    batch_size=st.integers(1, 7),
    seed=st.integers(0, 1000),
    flip=st.booleans(),
)
def test_one_frame_batches_share_one_plan_and_equal_the_general_path(width, batch_size, seed, flip) -> None:
    """Goldin's case: chunks of one frame, large movie rows (row gathers) and small response rows (windows)."""
    frames = 40
    movie = torch.arange(frames * width, dtype=torch.float32).reshape(frames, 1, 1, width)
    responses = torch.arange(frames * 3, dtype=torch.float32).reshape(frames, 3) + 0.5
    index = np.random.default_rng(seed).permutation(frames)
    dataset = MovieDataset(movie, responses, 1, movie_index=index, response_index=index, flip_width=flip)
    assert dataset._movie_chunks.plans_like(dataset._response_chunks)
    starts = np.random.default_rng(seed + 1).permutation(frames)
    for number, batch in enumerate(dataset.iter_batches(starts, batch_size, drop_last=False)):
        general = dataset.__getitems__(starts[number * batch_size : (number + 1) * batch_size].tolist())
        for got, want in zip(batch, general):
            assert got.shape == want.shape and got.stride() == want.stride()
            assert torch.equal(got, want)


def test_long_cycler_counts_inline_as_before() -> None:
    """The state after every step (the count the inline loop keeps) is the count of pairs received."""
    movie = torch.arange(60 * 4, dtype=torch.float32).reshape(60, 1, 2, 2)
    loaders = {}
    for name, n in (("a", 3), ("b", 5)):
        dataset = MovieDataset(movie, torch.zeros(60, n), 5, name=name)
        loaders[name] = make_movie_dataloader(dataset, 2, np.arange(0, 56, 5), train=True, seed=3)
    cycler = LongCycler(loaders, seed=2)
    received = {"a": 0, "b": 0}
    for step, (key, _batch) in enumerate(cycler, start=1):
        received[key] += 1
        state = cycler.state_dict()
        assert state["step"] == step and state["consumed"] == {k: v for k, v in received.items() if v}
    assert cycler.state_dict()["step"] == 0 and sum(received.values()) == len(cycler)


@settings(max_examples=80, deadline=None)
@given(
    chunk=st.integers(1, 5),
    batch_size=st.integers(1, 6),
    seed=st.integers(0, 1000),
    pass_gather=st.booleans(),
    neurons=st.sampled_from([2, WINDOW_MAX_ROW_BYTES // 4 + 1]),
)
def test_planned_batches_equal_one_call_batches(chunk, batch_size, seed, pass_gather, neurons) -> None:
    """Targets gathered per pass or per batch (pooled), inputs by the pass generator: the batches, their
    shapes and strides are those of ``__getitems__`` (the general path)."""
    import openretina_core.data.movie_dataset as movie_dataset

    frames = 48
    movie = torch.arange(frames * 6, dtype=torch.float32).reshape(frames, 2, 1, 3)
    responses = torch.arange(frames * neurons, dtype=torch.float32).reshape(frames, neurons) + 0.25
    rng = np.random.default_rng(seed)
    index = (rng.permutation(6)[:, None] * 8 + np.arange(8)).reshape(-1)  # clips of 8 in a new order
    dataset = MovieDataset(movie, responses, chunk, movie_index=index, response_index=index)
    starts = rng.integers(0, len(dataset), size=int(rng.integers(1, 20)))
    saved = movie_dataset.PASS_GATHER_MAX_BYTES
    movie_dataset.PASS_GATHER_MAX_BYTES = saved if pass_gather else 0
    try:
        planned = list(dataset.iter_batches(starts, batch_size, drop_last=False))
    finally:
        movie_dataset.PASS_GATHER_MAX_BYTES = saved
    assert len(planned) == -(-len(starts) // batch_size)
    for number, batch in enumerate(planned):
        general = dataset.__getitems__(starts[number * batch_size : (number + 1) * batch_size].tolist())
        for got, want in zip(batch, general):
            assert got.shape == want.shape and got.stride() == want.stride()
            assert torch.equal(got, want)


def test_many_sessions_reuse_a_few_buffers() -> None:
    """A LongCycler keeps one pass in flight per session: nothing in a suspended pass may hold its last
    batch, and window blocks and row gathers share buffers, or the pool would make new buffers every step."""
    from openretina_core.data.batch_buffers import BATCH_BUFFERS

    frames = 96
    movie = torch.arange(frames * 4, dtype=torch.float32).reshape(frames, 1, 2, 2)
    index = (np.array([3, 0, 5, 1, 4, 2])[:, None] * 16 + np.arange(16)).reshape(-1)  # seams: row gathers
    loaders = {}
    for session in range(12):
        dataset = MovieDataset(movie, torch.rand(frames, 3), 6, movie_index=index, response_index=index)
        loaders[f"s{session:02d}"] = make_movie_dataloader(dataset, 1, np.arange(0, 90, 6), train=True)
    cycler = LongCycler(loaders, seed=0)
    for _ in cycler:  # warm: the pool holds this shape's buffers
        pass
    inputs, targets, kinds = set(), set(), set()
    for _key, batch in cycler:
        inputs.add(batch.inputs.untyped_storage().data_ptr())
        targets.add(batch.targets.untyped_storage().data_ptr())
    for dataset in (loader.dataset for loader in loaders.values()):
        steps = dataset._movie_chunks.plan(np.arange(0, 90, 6), 1)
        kinds |= {whole for whole, _ in steps}
    assert kinds == {True, False}  # both copy kinds ran
    assert len(inputs) <= 2 and len(BATCH_BUFFERS.buffers) <= BATCH_BUFFERS.size
    assert len(targets) == 12  # small passes: each session's targets are one tensor of its pass


def test_foreign_load_reports_each_confirmed_change_once(monkeypatch) -> None:
    """Issue 18: other processes' runnable tasks, read every few ms, tell when a core is freed or taken; a
    change counts after two looks in a row agree (one transient task switches nothing), once per change."""
    from openretina_core.data import core_probe

    probe = core_probe.ForeignLoad(every=0.002, confirmations=2)
    probe.works = True
    counts = iter([0, 1, 0, 1, 1, 1, 0, 0, 2, 2])
    monkeypatch.setattr(probe, "foreign", lambda now: next(counts))
    changes = [probe.look(0.003 * look, room=0) for look in range(10)]
    assert changes == [None, None, None, None, "taken", None, None, "freed", None, "taken"]
    assert probe.look(0.028, room=0) is None  # within ``every`` of the last look: nothing read
    probe.free, counts = True, iter([1, 1])
    assert [probe.look(1.0, room=1), probe.look(1.01, room=1)] == [None, None]  # one task fits beside us


def test_foreign_load_reads_this_process_and_its_forks() -> None:
    """The counts come from open ``/proc`` files read again at each look; a forked child opens its own (the
    inherited ones describe its parent's threads)."""
    from openretina_core.data import core_probe

    probe = core_probe.ForeignLoad()
    if not probe.works:
        pytest.skip("no /proc/loadavg or a restricted CPU affinity: the probe is off")
    first = probe.foreign(0.0)
    assert isinstance(first, int) and first >= -1
    parent_files = dict(probe._threads)
    assert parent_files and probe._pid == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        ok = probe.foreign(1.0) is not None and probe._pid == os.getpid() and len(probe._threads) >= 1
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 1) == b"1"
    probe.close()
    assert probe._threads == {} and probe._loadavg == -1


def test_copy_threads_keep_estimates_per_load(monkeypatch) -> None:
    """The estimates are kept apart for cores free and cores taken: when the probe sees a competing job start,
    the next copy uses one thread (or what was measured under load before), and when it stops, what was
    measured with the cores free, without waiting for a try to overturn the other state's estimates."""
    from openretina_core.data import copy_threads

    size, caller = 1 << 20, torch.get_num_threads()
    seen: list[int] = []

    def copy() -> None:
        seen.append(torch.get_num_threads())

    try:
        torch.set_num_threads(2)
        policy = copy_threads.CopyThreads(small_bytes=1024)
        probe = policy._probe
        probe.works = True
        load = {"change": None}
        monkeypatch.setattr(probe, "look", lambda now, room: load.pop("change", None))
        policy.record(size, 2, 1.0, 2)  # cores free: two threads faster
        policy.record(size, 1, 1.5, 2)
        policy.run(size, torch.device("cpu"), copy)
        probe.free, load["change"] = False, "taken"
        policy.run(size, torch.device("cpu"), copy)  # nothing measured under load yet: one thread
        policy.record(size, 1, 1.0, 2)
        policy.record(size, 2, 30.0, 2)  # under load two threads were much slower
        for _ in range(5):
            policy.run(size, torch.device("cpu"), copy)
        probe.free, load["change"] = True, "freed"
        policy.run(size, torch.device("cpu"), copy)  # the free state's estimates: two threads at once
        assert seen == [2, 1] + [1] * 5 + [2]
        assert set(policy._classes) == {(True, size.bit_length()), (False, size.bit_length())}
    finally:
        torch.set_num_threads(caller)


def test_cycled_device_loaders_deliver_what_the_loaders_deliver() -> None:
    """Through a cycler, a ``DeviceDataLoader``'s batches are those of iterating it: moved by the hook (skipped
    when it would hand the batch back as it is) and, for a compact movie decoded after the transfer, decoded."""
    from openretina_core.data import DeviceDataLoader
    from openretina_core.data.compact import StimulusMap
    from openretina_core.data.device import moves_nothing

    raw = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (60, 2, 3, 2), dtype=np.uint8))
    stimulus_map = StimulusMap([10.0, 20.0], [3.0, 7.0])
    responses = torch.rand(60, 4)
    cpu = torch.device("cpu")
    for compact, decode_after in ((False, None), (True, False), (True, True)):
        movie = raw if compact else raw.float()
        dataset = MovieDataset(movie, responses, 5, movie_map=stimulus_map if compact else None)
        loader = make_movie_dataloader(dataset, 3, np.arange(0, 55, 5), train=True, seed=1)
        wrapped = DeviceDataLoader(loader, cpu, decode_after_transfer=decode_after)
        assert moves_nothing(cpu, dataset.movie, dataset.responses)
        cycled = [batch for _key, batch in LongCycler({"s": wrapped}, seed=4)]
        loader.sampler.set_epoch(0)
        direct = list(wrapped)
        assert len(cycled) == len(direct) == len(loader)
        for got, want in zip(cycled, direct):
            assert got.inputs.dtype == torch.float32
            assert torch.equal(got.inputs, want.inputs) and torch.equal(got.targets, want.targets)
