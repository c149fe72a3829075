"""Many processes (DDP ranks) or threads asking for the same dataset at once, and a killed download."""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from openretina_core import download
from openretina_core.download import fetch_dataset
from openretina_core.info import DatasetInfo, RemoteFile
from openretina_core.testing_http import LocalFileServer, fetch_in_process

BIG = bytes(range(256)) * 8192  # 2 MiB
SMALL = b"small file" * 1000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def child_env(server: LocalFileServer, cache: Path) -> dict[str, str]:
    return {
        "OPENRETINA_CACHE_DIR": str(cache),
        "OPENRETINA_MIRROR_URL": server.url,
        "OPENRETINA_NO_PROGRESS": "1",
        "OPENRETINA_RETRY_BACKOFF_S": "0",
    }


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalFileServer]:
    with LocalFileServer(chunk_size=64 * 1024, chunk_delay=0.01) as srv:  # ~6 MB/s: transfers overlap
        srv.add_dataset("toy", {"big.bin": BIG, "small.bin": SMALL})
        for key, value in child_env(srv, tmp_path / "cache").items():
            monkeypatch.setenv(key, value)
        for name in ("OPENRETINA_OFFLINE", "OPENRETINA_HF_URL"):
            monkeypatch.delenv(name, raising=False)
        yield srv


INFO = DatasetInfo(
    id="toy",
    title="Toy",
    authors=("A",),
    year=2024,
    files=(RemoteFile("big.bin", urls="https://e.org/big"), RemoteFile("small.bin", urls="https://e.org/small")),
)


@pytest.mark.slow
def test_eight_processes_download_each_file_once(server: LocalFileServer, tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(8), ctx.Queue()
    env = child_env(server, tmp_path / "cache")
    procs = [ctx.Process(target=fetch_in_process, args=(INFO, env, barrier, results)) for _ in range(8)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=90) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    errors = [o for o in outcomes if o[1] == "error"]
    assert not errors, errors
    assert {o[1] for o in outcomes} == {str(tmp_path / "cache/toy")}
    assert all(o[2] == {"big.bin": sha(BIG), "small.bin": sha(SMALL)} for o in outcomes)
    assert server.count("/toy/big.bin") == 1 and server.count("/toy/small.bin") == 1
    assert not list((tmp_path / "cache/toy/.openretina/partial").rglob("*.part"))


def test_without_working_locks_every_thread_still_gets_a_valid_file(
    server: LocalFileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextlib.contextmanager
    def broken_lock(*args: object, **kwargs: object) -> Iterator[bool]:
        yield False  # as on a filesystem where locks silently do nothing

    monkeypatch.setattr(download, "_lock", broken_lock)
    barrier, roots, errors = threading.Barrier(4), [], []

    def worker() -> None:
        barrier.wait()
        try:
            roots.append(fetch_dataset(INFO, download=True))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(roots) == 4
    root = tmp_path / "cache/toy"
    assert (root / "big.bin").read_bytes() == BIG and (root / "small.bin").read_bytes() == SMALL
    assert 1 <= server.count("/toy/big.bin") <= 4  # bandwidth may be wasted; correctness is not
    assert not list((root / ".openretina/partial").rglob("*.part"))


@pytest.mark.slow
def test_download_killed_mid_transfer_is_resumed_with_range(server: LocalFileServer, tmp_path: Path) -> None:
    server.chunk_delay = 0.05  # ~1.3 MB/s so the kill lands mid-transfer
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=fetch_in_process, args=(INFO, child_env(server, tmp_path / "cache"), None, results))
    proc.start()
    partial_dir = tmp_path / "cache/toy/.openretina/partial"
    deadline = time.monotonic() + 60
    size = 0
    while time.monotonic() < deadline and size < 300_000:
        parts = list(partial_dir.glob("big.bin~*.part")) if partial_dir.exists() else []
        size = max((p.stat().st_size for p in parts if p.exists()), default=0)
        time.sleep(0.02)
    proc.kill()
    proc.join(timeout=30)
    assert size >= 300_000, "the child never started downloading"
    assert not (tmp_path / "cache/toy/big.bin").exists()
    with pytest.raises(FileNotFoundError):
        fetch_dataset(INFO)  # the killed download is not taken for a file
    server.chunk_delay = 0.0
    fetch_dataset(INFO, download=True)
    assert (tmp_path / "cache/toy/big.bin").read_bytes() == BIG
    resumed = server.ranges("/toy/big.bin")[-1]
    assert resumed is not None and int(resumed.split("=")[1].rstrip("-")) >= 300_000
