"""Batch assembly: every fetch path (window blocks, row gathers, reads from a file, planned epochs) equals a naive
reference."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from openretina_core.data import copy_threads
from openretina_core.data.copy_threads import COPY_THREADS, CopyThreads
from openretina_core.data.file_rows import FileRows
from openretina_core.data.gather import ChunkGatherer
from openretina_core.data.movie_dataset import DataPoint, MovieDataset

_FILES = tempfile.TemporaryDirectory(prefix="gather_files_")  # file-backed movies of the property test
_NAMES = itertools.count()


@st.composite
def datasets(draw: st.DrawFn) -> tuple[MovieDataset, np.ndarray | None, np.ndarray, np.ndarray]:
    """A small dataset whose frame values encode their stored index, with an optional clip-order map."""
    clip = draw(st.integers(2, 12))
    n_clips = draw(st.integers(1, 8))
    stored = clip * n_clips
    chunk = draw(st.integers(1, stored))
    movie = np.arange(stored, dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 3, 2), np.float32)
    movie[:, :, :, 1] += 0.5  # distinguishes the two width columns (flip)
    responses = np.arange(stored, dtype=np.float32)[:, None] * 10 + np.arange(3, dtype=np.float32)
    index = None
    if draw(st.booleans()):
        order = draw(st.permutations(range(n_clips)))
        index = (np.asarray(order)[:, None] * clip + np.arange(clip)).reshape(-1)
    layout = draw(st.sampled_from(["time_major", "neuron_major"]))
    resp_t = torch.from_numpy(responses)
    if layout == "neuron_major":  # an (N, T) buffer handed over as its (T, N) view
        resp_t = torch.from_numpy(np.ascontiguousarray(responses.T)).T
    flip = draw(st.booleans())
    movie_t, movie_file = torch.from_numpy(movie), None
    if draw(st.booleans()):  # a file-backed movie whose chunks are read from the file
        path = Path(_FILES.name) / f"movie_{next(_NAMES)}.npy"
        np.save(path, movie)
        mapped = np.load(path, mmap_mode="c")
        movie_t, movie_file = torch.from_numpy(np.asarray(mapped)), FileRows.of(mapped)
        assert movie_file is not None
    dataset = MovieDataset(
        movie_t,
        resp_t,
        chunk,
        movie_index=index,
        response_index=index,
        flip_width=flip,
        movie_file=movie_file,
    )
    return dataset, index, movie, responses


def reference(
    movie: np.ndarray,
    responses: np.ndarray,
    index: np.ndarray | None,
    starts: list[int],
    chunk: int,
    flip: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """One frame at a time, obviously right: inputs ``(B, C, T, H, W)``, targets ``(B, T, N)``."""
    inputs, targets = [], []
    for s in starts:
        rows = [index[p] if index is not None else p for p in range(s, s + chunk)]
        frames = np.stack([movie[r] for r in rows], axis=1)  # (C, T, H, W)
        inputs.append(frames[..., ::-1] if flip else frames)
        targets.append(np.stack([responses[r] for r in rows]))
    return np.stack(inputs), np.stack(targets)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), case=datasets())
def test_every_fetch_path_matches_the_reference(data: st.DataObject, case) -> None:
    dataset, index, movie, responses = case
    starts = data.draw(st.lists(st.integers(0, len(dataset) - 1), min_size=1, max_size=20))
    batch_size = data.draw(st.integers(1, 8))
    drop_last = data.draw(st.booleans())
    kept = len(starts) // batch_size * batch_size if drop_last else len(starts)
    planned = list(dataset.iter_batches(np.asarray(starts), batch_size, drop_last))
    assert len(planned) == -(-kept // batch_size)
    for number, batch in enumerate(planned):
        group = starts[number * batch_size : min(kept, (number + 1) * batch_size)]
        want_inputs, want_targets = reference(
            movie, responses, index, group, dataset.chunk_size, dataset.flip_width
        )
        one_call = dataset.__getitems__(group)
        for got in (batch, one_call):
            assert tuple(got.inputs.shape) == want_inputs.shape
            np.testing.assert_array_equal(got.inputs.numpy(), want_inputs)
            np.testing.assert_array_equal(got.targets.numpy(), want_targets)


def test_plan_uses_block_copies_only_where_chunks_are_consecutive_in_storage() -> None:
    source = torch.arange(40, dtype=torch.float32)[:, None]
    index = torch.as_tensor(np.r_[20:30, 0:10, 30:40, 10:20])  # clips of 10 in a new order
    gatherer = ChunkGatherer(source, index, chunk=4)
    plan = gatherer.plan(np.array([0, 3, 6, 20, 8, 1]), batch_size=3)  # 8 crosses a clip seam
    assert [whole for whole, _ in plan] == [True, False]
    assert plan[0][1].tolist() == [20, 23, 26]  # window starts in storage
    assert plan[1][1].tolist() == [30, 31, 32, 33, 28, 29, 0, 1, 21, 22, 23, 24]  # stored rows
    np.testing.assert_array_equal(
        gatherer.fetch(*plan[1]).reshape(3, 4).numpy(), [[30, 31, 32, 33], [28, 29, 0, 1], [21, 22, 23, 24]]
    )


def test_batches_held_by_the_caller_are_never_overwritten() -> None:
    movie = torch.arange(200, dtype=torch.float32)[:, None, None, None]
    dataset = MovieDataset(movie, torch.arange(200, dtype=torch.float32)[:, None], chunk_size=5)
    batches = list(dataset.iter_batches(np.arange(0, 190, 5), batch_size=4, drop_last=False))
    for number, batch in enumerate(batches):  # all kept alive at once: each must still hold its own frames
        first = batch.inputs[:, 0, 0, 0, 0].tolist()
        assert first == [float(s) for s in range(number * 20, min(190, number * 20 + 20), 5)]


def test_out_of_range_starts_are_refused() -> None:
    dataset = MovieDataset(torch.zeros((20, 1, 1, 1)), torch.zeros((20, 1)), chunk_size=5)
    with pytest.raises(IndexError, match=r"\[0, 16\)"):
        list(dataset.iter_batches(np.array([0, 16]), batch_size=2, drop_last=False))
    with pytest.raises(IndexError, match=r"\[0, 16\)"):
        dataset.__getitems__([-1])


def test_large_stored_rows_are_gathered_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    from openretina_core.data import gather

    monkeypatch.setattr(gather, "WINDOW_MAX_ROW_BYTES", 8)  # 16-byte frames: rows; 4-byte responses: windows
    movie = torch.arange(60, dtype=torch.float32)[:, None, None, None].expand(60, 1, 2, 2).contiguous()
    dataset = MovieDataset(movie, torch.arange(60, dtype=torch.float32)[:, None], chunk_size=6)
    assert [whole for whole, _ in dataset._movie_chunks.plan(np.array([0, 7, 30]), 2)] == [False, False]
    assert [whole for whole, _ in dataset._response_chunks.plan(np.array([0, 7, 30]), 2)] == [True, True]
    assert not dataset._movie_chunks.plans_like(dataset._response_chunks), "each tensor follows its own plan"
    (batch,) = dataset.iter_batches(np.array([3, 40]), batch_size=2, drop_last=True)
    assert batch.inputs[:, 0, :, 1, 1].tolist() == [list(range(3, 9)), list(range(40, 46))]
    assert batch.targets[:, :, 0].tolist() == [list(range(3, 9)), list(range(40, 46))]


def test_file_reads_leave_nothing_mapped_and_report_truncation(tmp_path) -> None:
    movie = np.arange(64 * 6, dtype=np.float32).reshape(64, 1, 2, 3)
    path = tmp_path / "movie.npy"
    np.save(path, movie)
    mapped = np.load(path, mmap_mode="c")
    rows = FileRows.of(mapped)
    assert rows is not None and rows.shape == (64, 1, 2, 3) and rows.offset > 0
    assert FileRows.of(movie) is None, "an in-memory array maps no file"
    assert FileRows.of(mapped[:, :, :, ::2]) is None, "a strided view is not one byte range per chunk"
    gatherer = ChunkGatherer(torch.from_numpy(np.asarray(mapped)), None, chunk=4, file_rows=rows)
    ((whole, index),) = gatherer.plan(np.array([0, 10, 60]), batch_size=3)
    assert whole and gatherer.reads_file
    np.testing.assert_array_equal(
        gatherer.fetch(whole, index).numpy(),
        movie[[*range(0, 4), *range(10, 14), *range(60, 64)]].reshape(3, 4, 1, 2, 3),
    )
    with open(path, "r+b") as handle:
        handle.truncate(rows.offset + 20 * rows.row_bytes)
    with pytest.raises(OSError, match=r"movie.npy: file ended at byte"):
        gatherer.fetch(whole, index)


# -- the thread policy of batch copies (openretina_core/data/copy_threads.py) ------------------------------------


def _policy(monkeypatch: pytest.MonkeyPatch, cores: int = 4) -> CopyThreads:
    monkeypatch.setattr(copy_threads, "available_cores", lambda: cores)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    return CopyThreads(small_bytes=1024, explore_every=4)


def test_copy_threads_restores_the_callers_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = _policy(monkeypatch)
    caller = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        seen: list[int] = []
        policy.run(16, torch.device("cpu"), lambda: seen.append(torch.get_num_threads()))  # small: one thread
        assert seen == [1] and torch.get_num_threads() == 2

        def failing() -> None:
            raise RuntimeError("copy failed")

        with pytest.raises(RuntimeError):
            policy.run(16, torch.device("cpu"), failing)
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)  # a caller on one thread (e.g. a DataLoader worker) is left alone
        policy.run(1 << 20, torch.device("cpu"), lambda: seen.append(torch.get_num_threads()))
        assert seen[-1] == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(caller)


def test_copy_threads_follows_the_faster_count(monkeypatch: pytest.MonkeyPatch) -> None:
    policy, size = _policy(monkeypatch), 1 << 20
    assert policy.threads_for(size, 2) == 2  # untried: the caller's count first, then one thread
    policy.record(size, 2, 1.0, 2)
    assert policy.threads_for(size, 2) == 1
    policy.record(size, 1, 3.0, 2)  # one core free: two threads are 3x faster
    choices = []
    for _ in range(80):
        threads = policy.threads_for(size, 2)
        choices.append(threads)
        policy.record(size, threads, 1.0 if threads == 2 else 3.0, 2)
    # the faster count, and the other tried now and then (3x slower: every 60 copies, 5 % of the copy time)
    assert 1 <= choices.count(1) <= 2
    # a core is taken: two-thread copies suddenly slow; one thread is tried on the next copy each time and,
    # within a few copies (one slow copy moves an estimate at most 1.5x), kept
    used = []
    for _ in range(8):
        threads = policy.threads_for(size, 2)
        used.append(threads)
        policy.record(size, threads, 10.0 if threads == 2 else 3.0, 2)
    assert used[1] == 1 and used[-3:] == [1, 1, 1] and used.count(2) <= 3
    assert policy.threads_for(1 << 10, 8) == 4  # another size class keeps its own figures (untried: 4 cores)


def test_copy_threads_tries_a_much_slower_count_rarely(monkeypatch: pytest.MonkeyPatch) -> None:
    policy, size = _policy(monkeypatch), 1 << 20
    policy.record(size, 2, 30.0, 2)
    policy.record(size, 1, 1.0, 2)
    tries = 0
    for _ in range(1000):
        threads = policy.threads_for(size, 2)
        tries += threads == 2
        policy.record(size, threads, 30.0 if threads == 2 else 1.0, 2)
    assert 1 <= tries <= 3  # 30x slower: tried about every 600 copies (5 % of the copy time)


def test_copy_threads_shares_cores_among_local_ranks(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = _policy(monkeypatch, cores=8)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert policy.threads_for(1 << 20, 8) == 2
    policy.reset()
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert policy.threads_for(1 << 20, 8) == 1


def test_fetch_copies_run_under_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    original = COPY_THREADS.run

    def spy(nbytes: int, device: torch.device, copy: Any) -> Any:
        sizes.append(nbytes)
        return original(nbytes, device, copy)

    monkeypatch.setattr(COPY_THREADS, "run", spy)
    movie = torch.arange(40 * 6, dtype=torch.float32).reshape(40, 1, 2, 3)
    neuron_major = torch.arange(40 * 3, dtype=torch.float32).reshape(3, 40).T
    for responses in (neuron_major, neuron_major.contiguous()):
        dataset = MovieDataset(movie, responses, 5, movie_index=np.arange(40)[::-1].copy())
        batch = dataset.__getitems__([0, 7])
        assert torch.equal(batch.targets[1], responses[7:12])
    # per batch: the movie rows (a reversed map: not windows) and the responses, in both layouts
    assert sizes == [2 * 5 * 6 * 4, 2 * 5 * 3 * 4] * 2


class _ThreadsSeen(MovieDataset):
    def __getitems__(self, starts: Any) -> Any:
        seen: list[int] = []
        COPY_THREADS.run(1 << 20, torch.device("cpu"), lambda: seen.append(torch.get_num_threads()))
        return DataPoint(torch.tensor(seen), torch.tensor(seen))


def test_loader_workers_copy_with_one_thread() -> None:
    """docs/cyclers.md, "Threads": in our loaders' DataLoader workers, torch sets one intra-op thread, and a
    batch copy there keeps to it (no oversubscription: k workers, about k cores)."""
    from openretina_core.data.sampler import make_movie_dataloader

    dataset = _ThreadsSeen(torch.zeros(20, 1, 2, 2), torch.zeros(20, 3), 5)
    loader = make_movie_dataloader(dataset, 2, np.arange(0, 16, 5), train=False, num_workers=1)
    assert [batch.inputs.tolist() for batch in loader] == [[1], [1]]
