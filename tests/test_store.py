"""The prepared store: round trip, invalidation, damage, interrupted and concurrent preparation, full disk,
DDP ranks and DataLoader workers over mapped arrays."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from openretina_core import (
    LongCycler,
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    multiple_movies_dataloaders,
)
from openretina_core.files import DiskFullError
from openretina_core.store import (
    StoreIntegrityError,
    StoreWriteError,
    clean_entries,
    list_entries,
    open_entry,
    prepare_entry,
    prepared_session,
    strict_preparation,
    verify_entry,
)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(folder))
    return folder


def make_session(seed: int = 0) -> tuple[MoviesTrainTestSplit, ResponsesTrainTestSplit]:
    rng = np.random.default_rng(seed)
    movies = MoviesTrainTestSplit(
        train=rng.standard_normal((2, 600, 4, 5)),
        test_dict={"frozen": rng.standard_normal((2, 100, 4, 5))},
        stim_id="natural",
        random_sequences=np.array([[0, 1], [1, 0]]),
        norm_mean=0.25,
        norm_std=1.5,
    )
    responses = ResponsesTrainTestSplit(
        train=rng.random((3, 600)),
        test_dict={"frozen": rng.random((3, 100))},
        test_by_trial_dict={"frozen": rng.random((4, 3, 100))},
        stim_id="natural",
        session_kwargs={"eye": "left", "roi_ids": np.arange(3), "rate_hz": 30.0},
    )
    return movies, responses


class CountingReader:
    def __init__(self, seed: int = 0) -> None:
        self.calls, self.seed = 0, seed

    def __call__(self) -> tuple[MoviesTrainTestSplit, ResponsesTrainTestSplit]:
        self.calls += 1
        return make_session(self.seed)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "published.h5"
    path.write_bytes(b"published bytes")
    return path


def test_round_trip_is_bit_for_bit_and_maps_on_reuse(source: Path) -> None:
    read = CountingReader()
    first = prepared_session("toy", "s1", params={"a": 1}, sources=[source], read=read)
    movies, responses = prepared_session("toy", "s1", params={"a": 1}, sources=[source], read=read)
    assert read.calls == 1, "the second load maps the files and runs no reader"
    ref_movies, ref_responses = make_session()
    assert movies is not None and responses is not None and first[0] is not None
    assert np.array_equal(movies.train, ref_movies.train) and movies.train.dtype == np.float32
    assert np.array_equal(movies.test_dict["frozen"], ref_movies.test_dict["frozen"])
    assert np.array_equal(movies.random_sequences, ref_movies.random_sequences)
    assert (movies.stim_id, movies.norm_mean, movies.norm_std) == ("natural", 0.25, 1.5)
    assert np.array_equal(responses.train, ref_responses.train)
    assert np.array_equal(responses.test_by_trial_dict["frozen"], ref_responses.test_by_trial_dict["frozen"])
    assert responses.session_kwargs["eye"] == "left" and responses.session_kwargs["rate_hz"] == 30.0
    assert np.array_equal(responses.session_kwargs["roi_ids"], np.arange(3))
    assert isinstance(np.asarray(movies.train).base, np.memmap) or movies.train.base is not None


def test_loaders_over_the_store_copy_nothing_and_equal_in_memory_loaders(source: Path) -> None:
    movies, responses = prepared_session("toy", "s1", params={}, sources=[source], read=CountingReader())
    ref_movies, ref_responses = make_session()
    options = {"clip_length": 100, "num_val_clips": 2, "batch_size": 4, "seed": 3}
    mapped = multiple_movies_dataloaders({"s1": responses}, movies, **options)
    memory = multiple_movies_dataloaders({"s1": ref_responses}, ref_movies, **options)
    assert mapped.data_info["movie_copies_made"] == 0
    for split in ("train", "validation", "frozen"):
        for (x1, y1), (x2, y2) in zip(mapped[split]["s1"], memory[split]["s1"], strict=True):
            assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_parameters_and_touched_sources_make_new_entries(source: Path) -> None:
    read = CountingReader()
    prepared_session("toy", "s1", params={"a": 1}, sources=[source], read=read)
    prepared_session("toy", "s1", params={"a": 2}, sources=[source], read=read)
    assert read.calls == 2, "another parameter is another entry"
    assert len(list_entries("toy")) == 2
    source.write_bytes(b"republished bytes, longer")
    prepared_session("toy", "s1", params={"a": 1}, sources=[source], read=read)
    assert read.calls == 3, "a changed source file is never served from the old entry"
    assert len(list_entries("toy")) == 2, "the entry of the old file is removed"


def _entry_folder(dataset: str = "toy") -> Path:
    (entry,) = [e for e in list_entries(dataset) if e.complete]
    return entry.path


def test_a_changed_file_is_detected_and_rebuilt_never_served(source: Path) -> None:
    read = CountingReader()
    prepared_session("toy", "s1", params={}, sources=[source], read=read)
    target = _entry_folder() / "movie_train.npy"
    target.chmod(0o644)
    with open(target, "r+b") as handle:  # same size, other bytes, new mtime
        handle.seek(-8, os.SEEK_END)
        handle.write(b"\xff" * 8)
    with pytest.raises(StoreIntegrityError, match="movie_train.npy: changed since it was prepared"):
        open_entry(target.parent)
    movies, _ = prepared_session("toy", "s1", params={}, sources=[source], read=read)
    assert read.calls == 2, "the damaged entry was rebuilt"
    assert movies is not None and np.array_equal(movies.train, make_session()[0].train)


def test_verify_rehashes_and_finds_damage_behind_a_restored_stamp(source: Path) -> None:
    prepared_session("toy", "s1", params={}, sources=[source], read=CountingReader())
    folder = _entry_folder()
    assert verify_entry(folder) == []
    target = folder / "responses_train.npy"
    stat = target.stat()
    target.chmod(0o644)
    with open(target, "r+b") as handle:
        handle.seek(-4, os.SEEK_END)
        handle.write(b"\x00\x00\x80\x7f")
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    problems = verify_entry(folder)
    assert len(problems) == 1 and "responses_train.npy: sha256" in problems[0]


def test_a_full_disk_is_a_clear_error_and_the_previous_entry_stays(
    source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = CountingReader()
    prepared_session("toy", "s1", params={"a": 1}, sources=[source], read=read)

    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "posix_fallocate", no_space)
        with strict_preparation(), pytest.raises(DiskFullError, match="not enough disk space"):
            prepared_session("toy", "s1", params={"a": 2}, sources=[source], read=read)
    entries = list_entries("toy")
    assert [e.complete for e in entries] == [True], "no partial entry is left, the old one is intact"
    prepared_session("toy", "s1", params={"a": 1}, sources=[source], read=read)
    assert read.calls == 2, "the previous entry is still served"


def test_an_ordinary_load_falls_back_to_memory_when_the_store_cannot_be_written(
    source: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    read = CountingReader()
    with monkeypatch.context() as patch:
        patch.setattr(os, "posix_fallocate", no_space)
        movies, _ = prepared_session("toy", "s1", params={}, sources=[source], read=read)
    assert movies is not None and np.array_equal(movies.train, make_session()[0].train)
    assert "not enough disk space" in caplog.text and "kept in memory" in caplog.text
    assert list_entries("toy") == [] and read.calls == 1
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "blocked").write_text("a file where the store wants a folder")
    movies, responses = prepared_session("blocked", "s2", params={}, sources=[source], read=read)
    assert movies is not None and responses is not None and read.calls == 2
    with strict_preparation(), pytest.raises(StoreWriteError, match="cannot create the prepared store"):
        prepared_session("blocked", "s3", params={}, sources=[source], read=read)


def test_a_failed_build_leaves_nothing(source: Path) -> None:
    def broken() -> tuple[MoviesTrainTestSplit, ResponsesTrainTestSplit]:
        raise RuntimeError("reader failed")

    with pytest.raises(RuntimeError, match="reader failed"):
        prepared_session("toy", "s1", params={}, sources=[source], read=broken)
    assert list_entries("toy") == []


CHILD = textwrap.dedent(
    """
    import os, sys, time, json
    import numpy as np
    from openretina_core.store import prepare_entry
    source, log, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])

    def build(writer):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\\n")
        array = writer.allocate("values", (256, 1024), np.float32)
        array[:] = np.arange(256 * 1024, dtype=np.float32).reshape(256, 1024)
        time.sleep(delay)

    entry = prepare_entry("toy", "s1", params={"p": 1}, sources=[source], build=build)
    print(json.dumps({"sum": float(entry["values"].sum(dtype=np.float64))}))
    """
)


def _child(source: Path, log: Path, delay: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(source), str(log), str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )


@pytest.mark.slow
def test_concurrent_preparers_build_once_and_map_the_same_entry(source: Path, tmp_path: Path) -> None:
    log = tmp_path / "builds.log"
    children = [_child(source, log, 1.0) for _ in range(4)]
    outputs = [child.communicate(timeout=120) for child in children]
    assert all(child.returncode == 0 for child in children), [err for _, err in outputs]
    sums = {json.loads(out.strip().splitlines()[-1])["sum"] for out, _ in outputs}
    assert sums == {float(np.arange(256 * 1024, dtype=np.float64).sum())}
    assert len(log.read_text().split()) == 1, "one process built the entry, the others waited and mapped it"
    assert [e.complete for e in list_entries("toy")] == [True]


@pytest.mark.slow
def test_a_killed_preparation_is_never_served_and_is_swept(source: Path, tmp_path: Path) -> None:
    log = tmp_path / "builds.log"
    victim = _child(source, log, 60.0)
    deadline = time.monotonic() + 60
    while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    leftovers = list_entries("toy")
    assert leftovers and not any(e.complete for e in leftovers), "only an interrupted .part folder remains"
    survivor = _child(source, log, 0.0)
    _, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err
    assert [e.complete for e in list_entries("toy")] == [True], "the orphaned folder was swept"
    assert len(log.read_text().split()) == 2


def _ddp_rank(rank: int, port: int, source: str, log: str, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    try:

        def read() -> tuple[MoviesTrainTestSplit, ResponsesTrainTestSplit]:
            with open(log, "a") as handle:
                handle.write(f"{rank}\n")
            time.sleep(0.5)
            return make_session()

        movies, responses = prepared_session("toy", "s1", params={}, sources=[source], read=read)
        loaders = multiple_movies_dataloaders(
            {"s1": responses}, movies, clip_length=100, num_val_clips=2, batch_size=2, seed=1
        )
        batches = [inputs[:, 0, :, 0, 0].sum().item() for inputs, _ in loaders["train"]["s1"]]
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(batches))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_ranks_share_one_store(source: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "builds.log"
    context = multiprocessing.get_context("spawn")
    ranks = [
        context.Process(target=_ddp_rank, args=(rank, port, str(source), str(log), str(tmp_path)))
        for rank in range(2)
    ]
    for process in ranks:
        process.start()
    for process in ranks:
        process.join(timeout=180)
    assert [p.exitcode for p in ranks] == [0, 0]
    assert len(log.read_text().split()) == 1, "one rank prepared, the other mapped its entry"
    shares = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert shares[0] and len(shares[0]) == len(shares[1]) and shares[0] != shares[1], "disjoint shares"


@pytest.mark.slow
def test_cyclers_with_workers_over_mapped_sessions(source: Path) -> None:
    responses, movies = {}, {}
    for i, session in enumerate(("a", "b")):
        movie, response = prepared_session(
            "toy", session, params={}, sources=[source], read=CountingReader(i)
        )
        movies[session], responses[session] = movie, response
    loaders = multiple_movies_dataloaders(responses, movies, clip_length=100, num_val_clips=2, batch_size=4)
    signature = [(k, x[:, 0, :, 0, 0].sum().item()) for k, (x, _) in LongCycler(loaders["train"], seed=1)]
    with_workers = [
        (k, x[:, 0, :, 0, 0].sum().item())
        for k, (x, _) in LongCycler(loaders["train"], seed=1).as_dataloader(num_workers=2)
    ]
    assert with_workers == signature


def test_clean_one_entry_or_a_session(source: Path) -> None:
    for params in ({"a": 1}, {"a": 2}):
        prepared_session("toy", "s1", params=params, sources=[source], read=CountingReader())
    prepared_session("toy", "s2", params={"a": 1}, sources=[source], read=CountingReader())
    before = {(e.session, e.key) for e in list_entries("toy")}
    first = sorted(key for session, key in before if session == "s1")[0]
    assert clean_entries("toy", session="s1", key=first[:8]) > 0
    assert {(e.session, e.key) for e in list_entries("toy")} == before - {("s1", first)}
    clean_entries("toy", session="s2")
    assert [e.session for e in list_entries("toy")] == ["s1"]


def test_prepare_entry_refuses_odd_names(source: Path) -> None:
    with pytest.raises(ValueError, match="session '../x' is not a plain file name"):
        prepare_entry("toy", "../x", params={}, sources=[source], build=lambda writer: None)


def test_movie_reads_from_files_equal_mapped_gathers(source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    movies, responses = prepared_session("toy", "s1", params={}, sources=[source], read=CountingReader())
    options = {"clip_length": 100, "num_val_clips": 2, "batch_size": 4, "seed": 5}
    by_mode = {
        mode: multiple_movies_dataloaders({"s1": responses}, movies, movie_reads=mode, **options)
        for mode in ("memory", "file", "auto")
    }
    assert by_mode["file"]["train"]["s1"].dataset._movie_chunks.reads_file
    assert not by_mode["auto"]["train"]["s1"].dataset._movie_chunks.reads_file, "small movies stay mapped"
    for split in ("train", "validation", "frozen"):
        for (x1, y1), (x2, y2) in zip(
            by_mode["memory"][split]["s1"], by_mode["file"][split]["s1"], strict=True
        ):
            assert torch.equal(x1, x2) and torch.equal(y1, y2)
    from openretina_core.data import loaders as loaders_module

    monkeypatch.setattr(loaders_module, "memory_bytes", lambda: 1000)
    auto = multiple_movies_dataloaders({"s1": responses}, movies, movie_reads="auto", **options)
    assert auto["train"]["s1"].dataset._movie_chunks.reads_file, "movies larger than RAM are read from files"
    with pytest.raises(ValueError, match=r"movie_reads must be one of \('auto', 'memory', 'file'\)"):
        multiple_movies_dataloaders({"s1": responses}, movies, movie_reads="mmap", **options)


@pytest.mark.parametrize("chunk", [8, 4096, 1 << 26])
def test_digest_file_reads_the_data_bytes_in_chunks(tmp_path: Path, chunk: int, monkeypatch) -> None:
    import hashlib

    from openretina_core.store import layout

    monkeypatch.setattr(layout, "CHUNK_BYTES", chunk)
    values = np.random.default_rng(0).standard_normal((37, 5)).astype(np.float32)
    np.save(tmp_path / "a.npy", values)
    digest, finite = layout.digest_file(tmp_path / "a.npy", lambda n: None)
    assert digest == hashlib.sha256(values.tobytes()).hexdigest() and finite
    values[20, 3] = np.inf
    np.save(tmp_path / "b.npy", values)
    assert layout.digest_file(tmp_path / "b.npy", lambda n: None)[1] is False
    np.save(tmp_path / "c.npy", np.arange(10, dtype=np.int16))
    assert layout.digest_file(tmp_path / "c.npy", lambda n: None)[1] is True
