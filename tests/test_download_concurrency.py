"""Many processes (DDP ranks) or threads asking for the same dataset at once, and a killed download."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from openretina_core.files import locks
from openretina_core.files.download import fetch_dataset
from openretina_core.registry.specs import DatasetInfo, RemoteFile
from openretina_core.testing.http import LocalFileServer, run_concurrent_fetches, start_fetch_process

BIG = bytes(range(256)) * 8192  # 2 MiB
SMALL = b"small file" * 1000


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


ARCHIVE = _zip({f"pack/s{i}/data.bin": bytes([i]) * 200_000 for i in range(20)})


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
        srv.add_dataset("toy", {"big.bin": BIG, "small.bin": SMALL, "pack.zip": ARCHIVE})
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
    files=(
        RemoteFile("big.bin", urls="https://e.org/big"),
        RemoteFile("small.bin", urls="https://e.org/small"),
    ),
)
WITH_ARCHIVE = attrs.evolve(
    INFO, files=(*INFO.files, RemoteFile("pack.zip", urls="https://e.org/p", extract=True))
)


@pytest.mark.slow
def test_eight_processes_download_each_file_once(server: LocalFileServer, tmp_path: Path) -> None:
    outcomes = run_concurrent_fetches(WITH_ARCHIVE, child_env(server, tmp_path / "cache"), processes=8)
    assert [o.get("error") for o in outcomes] == [None] * 8
    assert len({o["pid"] for o in outcomes}) == 8
    root = tmp_path / "cache/toy"
    assert {o["root"] for o in outcomes} == {str(root)}
    expected = {"big.bin": sha(BIG), "small.bin": sha(SMALL), "pack.zip": sha(ARCHIVE)}
    assert all(o["sha256"] == expected for o in outcomes)
    assert [server.count(f"/toy/{name}") for name in expected] == [1, 1, 1]
    assert all((root / f"pack/s{i}/data.bin").read_bytes() == bytes([i]) * 200_000 for i in range(20))
    assert list((root / ".openretina/partial").rglob("*.part")) == []
    assert list((root / ".openretina/partial").glob("*.extract")) == []


@pytest.mark.parametrize("locks_work", [True, False])
def test_threads_get_a_valid_file_with_or_without_working_locks(
    server: LocalFileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locks_work: bool
) -> None:
    if not locks_work:

        @contextlib.contextmanager
        def broken_lock(*args: object, **kwargs: object) -> Iterator[bool]:
            yield False  # as on a filesystem where locks silently do nothing

        monkeypatch.setattr(locks, "file_lock", broken_lock)
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
    count = server.count("/toy/big.bin")
    assert count == 1 if locks_work else 1 <= count <= 4  # without locks bandwidth may be wasted, not data
    assert not list((root / ".openretina/partial").rglob("*.part"))


def test_a_lock_that_raises_or_never_frees_does_not_block_the_download(
    server: LocalFileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from filelock import FileLock

    monkeypatch.setenv("OPENRETINA_LOCK_STALL_S", "0.3")
    held = FileLock(str(tmp_path / "cache/toy/.openretina/locks/big.bin.lock"))
    (tmp_path / "cache/toy/.openretina/locks").mkdir(parents=True)
    held.acquire()  # a hung process holding the lock and making no progress
    try:
        with caplog.at_level(logging.WARNING, logger="openretina_core"):
            start = time.monotonic()
            fetch_dataset(INFO, download=True)
        assert time.monotonic() - start < 5
        assert any("proceeding without the lock" in r.getMessage() for r in caplog.records)
    finally:
        held.release()

    def no_locks(self: object, *args: object, **kwargs: object) -> None:
        raise OSError(38, "Function not implemented")  # e.g. flock on a Lustre mount without -o flock

    monkeypatch.setattr(FileLock, "acquire", no_locks)
    (tmp_path / "cache/toy/small.bin").unlink()
    fetch_dataset(INFO, download=True)
    assert (tmp_path / "cache/toy/small.bin").read_bytes() == SMALL
    assert any("file locks do not work" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_download_killed_mid_transfer_is_resumed_with_range(server: LocalFileServer, tmp_path: Path) -> None:
    server.chunk_delay = 0.05  # ~1.3 MB/s so the kill lands mid-transfer
    proc = start_fetch_process(INFO, child_env(server, tmp_path / "cache"))
    partial_dir = tmp_path / "cache/toy/.openretina/partial"
    deadline = time.monotonic() + 60
    size = 0
    while time.monotonic() < deadline and size < 300_000:
        parts = list(partial_dir.glob("big.bin~*.part")) if partial_dir.exists() else []
        size = max((p.stat().st_size for p in parts if p.exists()), default=0)
        time.sleep(0.02)
    proc.kill()
    proc.communicate(timeout=30)
    assert size >= 300_000, "the child never started downloading"
    assert not (tmp_path / "cache/toy/big.bin").exists()
    with pytest.raises(FileNotFoundError):
        fetch_dataset(INFO)  # the killed download is not taken for a file
    server.chunk_delay = 0.0
    fetch_dataset(INFO, download=True)
    assert (tmp_path / "cache/toy/big.bin").read_bytes() == BIG
    resumed = server.ranges("/toy/big.bin")[-1]
    assert resumed is not None and int(resumed.split("=")[1].rstrip("-")) >= 300_000
