"""A cold natural-movie load serves batches while its store entries are written in threads: batches before the
entry exists, the committed entry equal to the frames served, failures of the writer raised to the caller, a
killed writer leaving nothing that is served later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from openretina_sridhar_2025 import BackgroundWriteError, get_sridhar_dataloaders, wait_for_store_writes
from openretina_sridhar_2025.sample import write_sample

import openretina_core.store as store
from openretina_core.store import list_entries

MOVIE = "movie-complete_fixations_seed_2022and2023_s4_fixed"


@pytest.fixture
def sample(tmp_path: Path, monkeypatch) -> dict:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    written = write_sample(tmp_path / "sample", stim_type="natural_movie")
    return {"data_dir": written.data_dir, **written.options, "sessions": ["01"]}


def _committed() -> set[str]:
    return {usage.session for usage in list_entries("sridhar_2025") if usage.complete}


def _held_writes(monkeypatch) -> threading.Event:
    """Make every store write started in a thread wait for the returned event."""
    release = threading.Event()
    real = store.prepare_entry

    def held(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            assert release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "prepare_entry", held)
    return release


def _epoch(loader) -> list[tuple[np.ndarray, np.ndarray]]:
    torch.manual_seed(0)
    return [(x.numpy().copy(), y.numpy().copy()) for x, y in loader]


def test_batches_are_served_before_the_entry_exists_and_equal_the_committed_entry(sample, monkeypatch):
    release = _held_writes(monkeypatch)
    cold = get_sridhar_dataloaders(**sample)
    train = cold["train"]["01"]
    served = {split: _epoch(cold[split]["01"]) for split in ("train", "validation", "test")}
    assert served["train"] and MOVIE not in _committed(), "the first epoch came before the entry"
    assert train.dataset.rendered is not None
    release.set()
    wait_for_store_writes()
    assert {MOVIE, "natural_movie-01-responses"} <= _committed()
    mapped = get_sridhar_dataloaders(**sample)
    assert mapped["train"]["01"].dataset.rendered is None
    for split, batches in served.items():
        again = _epoch(mapped[split]["01"])
        assert len(again) == len(batches)
        for (x, y), (x2, y2) in zip(batches, again):
            np.testing.assert_array_equal(x, x2)  # rendered batches == batches of the committed entry
            np.testing.assert_array_equal(y, y2)
    # the committed entry, frame for frame, is what the cold load renders
    rendered = train.dataset.rendered
    movie = mapped["train"]["01"].dataset.movie.numpy()
    frames = np.empty(movie.shape, movie.dtype)
    rendered.render_rows(np.arange(len(movie)), frames)
    np.testing.assert_array_equal(frames, movie)
    # once committed, the cold load's datasets switch to the mapped entry at their next pass
    _epoch(train)
    assert train.dataset.rendered is None
    np.testing.assert_array_equal(train.dataset.movie.numpy(), movie)


def test_whole_movie_uses_wait_for_the_entry(sample, monkeypatch):
    release = _held_writes(monkeypatch)
    cold = get_sridhar_dataloaders(**sample)
    dataset = cold["test"]["01"].dataset
    threading.Timer(0.3, release.set).start()
    started = time.perf_counter()
    movies = dataset.movies  # the whole sequence: waits for the committed entry
    assert time.perf_counter() - started >= 0.25 and MOVIE in _committed()
    assert dataset.rendered is None and movies.shape[1] == len(dataset) + dataset.chunk_size - 1


def test_a_failed_write_is_raised_from_the_next_batch(sample, monkeypatch):
    real = store.prepare_entry

    def failing(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "prepare_entry", failing)
    cold = get_sridhar_dataloaders(**sample)
    with pytest.raises(BackgroundWriteError, match="disk on fire"):
        wait_for_store_writes()
    with pytest.raises(
        BackgroundWriteError, match=r"in the background failed \(RuntimeError: disk on fire\)"
    ):
        next(iter(cold["train"]["01"]))
    assert MOVIE not in _committed()
    monkeypatch.setattr(store, "prepare_entry", real)
    again = get_sridhar_dataloaders(**sample)  # prepared again: nothing was committed
    next(iter(again["train"]["01"]))
    wait_for_store_writes()
    assert MOVIE in _committed()


def test_a_store_that_cannot_be_written_is_a_warning_and_served_in_memory(sample, monkeypatch, caplog):
    real = store.prepare_entry

    def read_only(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            raise store.StoreWriteError(30, "read-only file system")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "prepare_entry", read_only)
    cold = get_sridhar_dataloaders(**sample)
    wait_for_store_writes()
    batches = _epoch(cold["train"]["01"])
    assert batches and "served from memory" in caplog.text and MOVIE not in _committed()
    assert cold["train"]["01"].dataset.movie.shape[0] > 0  # the whole movie, rendered into memory


_CHILD = """
import os, sys, threading, time
import openretina_core.store as store
from openretina_sridhar_2025 import get_sridhar_dataloaders
real = store.prepare_entry
def stalled(*args, **kwargs):
    if threading.current_thread() is not threading.main_thread() and args[1].startswith("movie-"):
        build = kwargs["build"]
        def slow(writer):
            writer.put("test", __import__("numpy").zeros((3, 1, 80, 90), "uint8"))
            print("writing", flush=True)
            time.sleep(600)
        kwargs["build"] = slow
    return real(*args, **kwargs)
store.prepare_entry = stalled
loaders = get_sridhar_dataloaders(data_dir=sys.argv[1], sessions=["01"], **eval(sys.argv[2]))
next(iter(loaders["train"]["01"]))
print("batch", flush=True)
time.sleep(600)
"""


def test_a_process_killed_while_writing_leaves_nothing_served(sample, tmp_path: Path):
    options = {k: v for k, v in sample.items() if k not in ("data_dir", "sessions")}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(sample["data_dir"]), repr(options)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENRETINA_NO_PROGRESS": "1"},
    )
    try:
        seen = {child.stdout.readline().strip() for _ in range(2)}  # type: ignore[union-attr]
        assert seen == {"writing", "batch"}
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert MOVIE not in _committed()
    parts = list((tmp_path / "cache").rglob("*.part"))
    assert parts, "the killed writer left its .part folder"
    loaders = get_sridhar_dataloaders(**sample)  # sweeps it and prepares the entry again
    batches = _epoch(loaders["train"]["01"])
    wait_for_store_writes()
    assert MOVIE in _committed() and not list((tmp_path / "cache").rglob("*.part"))
    mapped = get_sridhar_dataloaders(**sample)
    for (x, _), (x2, _) in zip(batches, _epoch(mapped["train"]["01"])):
        np.testing.assert_array_equal(x, x2)


def test_file_reads_take_over_once_the_entry_is_committed(sample, monkeypatch):
    release = _held_writes(monkeypatch)
    cold = get_sridhar_dataloaders(movie_reads="file", **sample)
    dataset = cold["train"]["01"].dataset
    first = _epoch(cold["train"]["01"])
    release.set()
    wait_for_store_writes()
    second = _epoch(cold["train"]["01"])  # the next pass reads the committed entry's file
    assert dataset.rendered is None and dataset._movie_chunks.reads_file
    mapped = get_sridhar_dataloaders(movie_reads="file", **sample)
    for ours, theirs in ((first, _epoch(mapped["train"]["01"])), (second, _epoch(mapped["train"]["01"]))):
        assert len(ours) == len(theirs)
        for (x, y), (x2, y2) in zip(ours, theirs):
            np.testing.assert_array_equal(x, x2)
            np.testing.assert_array_equal(y, y2)
