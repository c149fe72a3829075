"""Downloads against a real HTTP server on 127.0.0.1: caching, integrity, faults, offline, hosts."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from openretina_core.files import cache, fetch
from openretina_core.files.download import (
    CorruptFileError,
    DiskFullError,
    DownloadError,
    HashMismatchError,
    OfflineError,
    fetch_dataset,
    verify_dataset,
)
from openretina_core.registry.specs import DatasetInfo, RemoteFile
from openretina_core.testing.http import LocalFileServer

HF = "https://huggingface.co/datasets/open-retina/open-retina/resolve/main/baccus_lab/toy"
ENV_VARS = (
    "OPENRETINA_OFFLINE",
    "OPENRETINA_MIRROR_URL",
    "OPENRETINA_HF_URL",
    "OPENRETINA_GIN_URL",
    "OPENRETINA_SDR_URL",
    "OPENRETINA_ZENODO_URL",
)


def payload(n: int, seed: int) -> bytes:
    """Deterministic pseudo-random bytes."""
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(root))
    monkeypatch.setenv("OPENRETINA_RETRY_BACKOFF_S", "0")
    monkeypatch.setenv("OPENRETINA_NO_PROGRESS", "1")
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return root


@pytest.fixture
def server(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalFileServer]:
    with LocalFileServer() as srv:
        monkeypatch.setenv("OPENRETINA_MIRROR_URL", srv.url)
        yield srv


def toy_info(*files: RemoteFile, dataset_id: str = "toy") -> DatasetInfo:
    return DatasetInfo(id=dataset_id, title="Toy", authors=("A",), year=2024, files=files)


def no_partials(root: Path) -> bool:
    return not list((root / ".openretina" / "partial").rglob("*.part"))


A, B = payload(300_000, 1), payload(5_000, 2)


def test_first_download_then_cached_reload_with_server_down(
    server: LocalFileServer, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add_dataset("toy", {"sub/a.bin": A, "b.bin": B})
    info = toy_info(RemoteFile("sub/a.bin", urls=f"{HF}/sub/a.bin"), RemoteFile("b.bin", urls=f"{HF}/b.bin"))
    root = fetch_dataset(info, download=True)
    assert root == cache_dir / "toy"
    assert (root / "sub/a.bin").read_bytes() == A and (root / "b.bin").read_bytes() == B
    assert server.count("/toy/sub/a.bin") == 1 and server.count("/toy/b.bin") == 1
    record = json.loads((root / ".openretina/records/sub/a.bin.json").read_text())
    assert record["sha256"] == sha(A) and record["source"] == "first-download"
    assert no_partials(root)

    server.stop()

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network used although everything is cached")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", no_network)
    assert fetch_dataset(info, download=True) == root
    assert fetch_dataset(info) == root


def test_declared_hash_mismatch_names_file_url_and_both_hashes(
    server: LocalFileServer, cache_dir: Path
) -> None:
    server.add_dataset("toy", {"a.bin": A, "b.bin": B})
    good = RemoteFile("a.bin", urls="https://example.org/a.bin", sha256=sha(A))
    fetch_dataset(toy_info(good), download=True)
    root = cache_dir / "toy"
    before = ((root / "a.bin").stat().st_mtime_ns, (root / ".openretina/records/a.bin.json").read_bytes())
    wrong = "0" * 64
    info = toy_info(good, RemoteFile("b.bin", urls="https://example.org/b.bin", sha256=wrong))
    with pytest.raises(HashMismatchError) as excinfo:
        fetch_dataset(info, download=True)
    message = str(excinfo.value)
    assert "b.bin" in message and f"{server.url}/toy/b.bin" in message
    assert sha(B) in message and wrong in message
    assert not (root / "b.bin").exists() and no_partials(root)
    after = ((root / "a.bin").stat().st_mtime_ns, (root / ".openretina/records/a.bin.json").read_bytes())
    assert after == before and (root / "a.bin").read_bytes() == A


def test_declared_size_mismatch_is_refused(server: LocalFileServer, cache_dir: Path) -> None:
    server.add_dataset("toy", {"a.bin": A})
    with pytest.raises(HashMismatchError, match="announces 300000 bytes, expected 12"):
        fetch_dataset(toy_info(RemoteFile("a.bin", urls="https://e.org/a", size=12)), download=True)
    assert not (cache_dir / "toy/a.bin").exists()


def test_trust_on_first_use_detects_a_changed_upstream_file(
    server: LocalFileServer, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.add_dataset("toy", {"a.bin": A})
    info = toy_info(RemoteFile("a.bin", urls="https://e.org/a"))
    with caplog.at_level(logging.WARNING, logger="openretina_core"):
        fetch_dataset(info, download=True)
    assert any("trust on first use" in r.getMessage() and sha(A) in r.getMessage() for r in caplog.records)
    (cache_dir / "toy/a.bin").unlink()
    server.add_dataset("toy", {"a.bin": B})
    with pytest.raises(HashMismatchError) as excinfo:
        fetch_dataset(info, download=True)
    assert sha(A) in str(excinfo.value) and sha(B) in str(excinfo.value)
    assert "first-download" in str(excinfo.value) and not (cache_dir / "toy/a.bin").exists()


def test_stamp_avoids_rehashing_and_verify_rehashes(
    server: LocalFileServer, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add_dataset("toy", {"a.bin": A})
    info = toy_info(RemoteFile("a.bin", urls="https://e.org/a", sha256=sha(A)))
    fetch_dataset(info, download=True)
    calls: list[Path] = []
    real_hash = cache.hash_file
    monkeypatch.setattr(cache, "hash_file", lambda path, desc=None: calls.append(path) or real_hash(path))
    for _ in range(3):
        fetch_dataset(info)
    assert calls == []
    target = cache_dir / "toy/a.bin"
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    fetch_dataset(info)
    fetch_dataset(info)
    assert calls == [target]  # re-hashed once after the mtime changed, then stamped again
    assert [s.status for s in verify_dataset(info)] == ["ok"] and len(calls) == 2


def test_corrupted_cached_file_is_found_by_verify_then_refetched(
    server: LocalFileServer, cache_dir: Path
) -> None:
    server.add_dataset("toy", {"a.bin": A})
    info = toy_info(RemoteFile("a.bin", urls="https://e.org/a"))
    fetch_dataset(info, download=True)
    target = cache_dir / "toy/a.bin"
    stat = target.stat()
    with open(target, "r+b") as handle:  # silent bit rot: same size, same mtime
        handle.seek(1000)
        handle.write(b"\x00\x01\x02")
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fetch_dataset(info) == cache_dir / "toy"  # the stamp is trusted (no re-hash per load)
    (state,) = verify_dataset(info)
    assert state.status == "corrupt" and state.expected == sha(A) and state.actual != sha(A)
    with pytest.raises(CorruptFileError, match=r"a\.bin"):
        fetch_dataset(info)  # verify dropped the stamp, so loads re-hash and refuse
    fetch_dataset(info, download=True)
    assert target.read_bytes() == A and server.count("/toy/a.bin") == 2


def test_truncated_transfer_resumes_with_range(server: LocalFileServer, cache_dir: Path) -> None:
    server.add_dataset("toy", {"a.bin": A})
    server.truncate("/toy/a.bin", 100_000, times=2)
    fetch_dataset(toy_info(RemoteFile("a.bin", urls="https://e.org/a")), download=True)
    assert (cache_dir / "toy/a.bin").read_bytes() == A
    assert server.ranges("/toy/a.bin") == [None, "bytes=100000-", "bytes=100000-"]
    assert [r.status for r in server.requests] == [200, 206, 206]


def test_truncated_transfer_restarts_when_the_server_ignores_range(
    server: LocalFileServer, cache_dir: Path
) -> None:
    server.support_range = False
    server.add_dataset("toy", {"a.bin": A})
    server.truncate("/toy/a.bin", 100_000)
    fetch_dataset(toy_info(RemoteFile("a.bin", urls="https://e.org/a")), download=True)
    assert (cache_dir / "toy/a.bin").read_bytes() == A
    assert [r.status for r in server.requests] == [200, 200]


def test_server_errors_then_success(server: LocalFileServer, cache_dir: Path) -> None:
    server.add_dataset("toy", {"a.bin": A})
    server.fail("/toy/a.bin", times=2, status=503)
    fetch_dataset(toy_info(RemoteFile("a.bin", urls="https://e.org/a", sha256=sha(A))), download=True)
    assert [r.status for r in server.requests] == [503, 503, 200]
    assert (cache_dir / "toy/a.bin").read_bytes() == A


def test_persistent_server_errors_give_a_clear_error_and_no_file(
    server: LocalFileServer, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENRETINA_DOWNLOAD_RETRIES", "3")
    server.add_dataset("toy", {"a.bin": A})
    server.fail("/toy/a.bin", times=10, status=500)
    info = toy_info(RemoteFile("a.bin", urls="https://e.org/a"))
    with pytest.raises(DownloadError) as excinfo:
        fetch_dataset(info, download=True)
    assert f"{server.url}/toy/a.bin" in str(excinfo.value) and "HTTP 500" in str(excinfo.value)
    assert server.count("/toy/a.bin") == 3
    with pytest.raises(FileNotFoundError, match="download=True"):
        fetch_dataset(info)


def test_partial_from_an_earlier_failed_call_is_resumed(
    server: LocalFileServer, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENRETINA_DOWNLOAD_RETRIES", "1")
    server.add_dataset("toy", {"a.bin": A})
    server.truncate("/toy/a.bin", 120_000)
    info = toy_info(RemoteFile("a.bin", urls="https://e.org/a"))
    with pytest.raises(DownloadError, match="truncated"):
        fetch_dataset(info, download=True)
    (left,) = (cache_dir / "toy/.openretina/partial").glob("a.bin~*.part")
    assert left.stat().st_size == 120_000
    with pytest.raises(FileNotFoundError):
        fetch_dataset(info)  # a partial is never taken for the file
    fetch_dataset(info, download=True)
    assert (cache_dir / "toy/a.bin").read_bytes() == A
    assert server.ranges("/toy/a.bin") == [None, "bytes=120000-"]
    assert no_partials(cache_dir / "toy")


def test_partial_of_a_dead_process_is_adopted_and_checked_by_hash(
    server: LocalFileServer, cache_dir: Path
) -> None:
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    server.add_dataset("toy", {"a.bin": A})
    folder = cache_dir / "toy/.openretina/partial"
    folder.mkdir(parents=True)
    from openretina_core.files.partials import _host

    partial = folder / f"a.bin~{_host()}-{pid}-deadbeef.part"
    partial.write_bytes(A[:50_000][:-10] + b"X" * 10)  # corrupted tail: the final hash must catch it
    meta = {"url": f"{server.url}/toy/a.bin", "validator": None, "total": len(A)}
    (folder / (partial.name + ".json")).write_text(json.dumps(meta))
    fetch_dataset(toy_info(RemoteFile("a.bin", urls="https://e.org/a", sha256=sha(A))), download=True)
    assert (cache_dir / "toy/a.bin").read_bytes() == A
    assert server.ranges("/toy/a.bin") == ["bytes=50000-", None]  # resumed, failed the hash, restarted
    assert no_partials(cache_dir / "toy")


def test_hosts_are_tried_in_order_and_html_pages_are_refused(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalFileServer() as srv:
        monkeypatch.setenv("OPENRETINA_HF_URL", srv.url + "/hf")
        monkeypatch.setenv("OPENRETINA_SDR_URL", srv.url + "/sdr")
        monkeypatch.setenv("OPENRETINA_ZENODO_URL", srv.url)
        srv.add_file("/sdr/file/druid:rk663dm5577/a.bin", b"<html>login</html>", content_type="text/html")
        srv.add_file("/records/6868362/files/a.bin", A)
        urls = (
            "https://huggingface.co/datasets/open-retina/open-retina/resolve/main/toy/a.bin",
            "https://stacks.stanford.edu/file/druid:rk663dm5577/a.bin",
            "https://zenodo.org/records/6868362/files/a.bin",
        )
        fetch_dataset(toy_info(RemoteFile("a.bin", urls=urls)), download=True)
        assert (cache_dir / "toy/a.bin").read_bytes() == A
        assert [(r.path, r.status) for r in srv.requests] == [
            ("/hf/datasets/open-retina/open-retina/resolve/main/toy/a.bin", 404),
            ("/sdr/file/druid:rk663dm5577/a.bin", 200),
            ("/records/6868362/files/a.bin", 200),
        ]
        record = json.loads((cache_dir / "toy/.openretina/records/a.bin.json").read_text())
        assert record["url"] == srv.url + "/records/6868362/files/a.bin"


@pytest.mark.parametrize("good", [True, False])
def test_hugging_face_published_sha256_is_used(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, good: bool
) -> None:
    with LocalFileServer() as srv:
        monkeypatch.setenv("OPENRETINA_HF_URL", srv.url)
        linked = sha(A) if good else sha(B)
        srv.add_redirect(
            "/datasets/open-retina/open-retina/resolve/main/toy/a.bin",
            "/cdn/a.bin",
            headers={"X-Linked-Etag": f'"{linked}"'},
        )
        srv.add_file("/cdn/a.bin", A)
        info = toy_info(RemoteFile("a.bin", urls=f"{HF.rsplit('/', 2)[0]}/toy/a.bin"))
        if good:
            fetch_dataset(info, download=True)
            record = json.loads((cache_dir / "toy/.openretina/records/a.bin.json").read_text())
            assert record["source"] == "host" and record["sha256"] == sha(A)
        else:
            with pytest.raises(HashMismatchError, match=sha(B)):
                fetch_dataset(info, download=True)
            assert not (cache_dir / "toy/a.bin").exists()


def test_offline_switch_refuses_the_network_and_names_missing_files(
    server: LocalFileServer, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add_dataset("toy", {"a.bin": A, "b.bin": B})
    info = toy_info(RemoteFile("a.bin", urls="https://e.org/a"), RemoteFile("b.bin", urls="https://e.org/b"))
    fetch_dataset(toy_info(info.files[0]), download=True)
    monkeypatch.setenv("OPENRETINA_OFFLINE", "1")
    before = len(server.requests)
    with pytest.raises(OfflineError) as excinfo:
        fetch_dataset(info, download=True)
    message = str(excinfo.value)
    assert "OPENRETINA_OFFLINE=1" in message and str(cache_dir / "toy/b.bin") in message
    assert "a.bin" not in message.split("missing:")[1]
    assert len(server.requests) == before
    assert fetch_dataset(toy_info(info.files[0]), download=True) == cache_dir / "toy"  # cached: fine offline


def test_full_disk_is_a_clear_error_before_downloading(
    server: LocalFileServer, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    server.add_dataset("toy", {"a.bin": A})
    with pytest.raises(DiskFullError) as excinfo:
        fetch_dataset(toy_info(RemoteFile("a.bin", urls="https://e.org/a")), download=True)
    assert excinfo.value.errno == errno.ENOSPC and "not enough disk space" in str(excinfo.value)
    assert "OPENRETINA_CACHE_DIR" in str(excinfo.value) and no_partials(cache_dir / "toy")


def test_disk_filling_up_during_the_transfer_is_a_clear_error(
    server: LocalFileServer, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Filling:
        def __init__(self, handle: object) -> None:
            self.handle = handle

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name: str) -> object:
            return getattr(self.handle, name)

    real_open = open
    monkeypatch.setattr(fetch, "open", lambda *a, **k: Filling(real_open(*a, **k)), raising=False)
    server.add_dataset("toy", {"a.bin": A})
    with pytest.raises(DiskFullError, match="not enough disk space"):
        fetch_dataset(toy_info(RemoteFile("a.bin", urls="https://e.org/a")), download=True)
    assert not (cache_dir / "toy/a.bin").exists() and no_partials(cache_dir / "toy")


def test_data_dir_is_used_as_is_and_never_written(tmp_path: Path, cache_dir: Path) -> None:
    user = tmp_path / "mine"
    user.mkdir()
    (user / "a.bin").write_bytes(B)
    info = toy_info(RemoteFile("a.bin", urls="https://e.org/a", sha256="0" * 64))
    assert fetch_dataset(info, data_dir=user, download=True) == user
    assert sorted(p.name for p in user.iterdir()) == ["a.bin"] and not cache_dir.exists()
    with pytest.raises(FileNotFoundError, match="nowhere"):
        fetch_dataset(info, data_dir=tmp_path / "nowhere")


def test_missing_files_without_download_list_every_path(cache_dir: Path) -> None:
    info = toy_info(
        RemoteFile("x/a.bin", urls="https://e.org/a"),
        RemoteFile("b.zip", urls="https://e.org/b", extract=True),
    )
    with pytest.raises(FileNotFoundError) as excinfo:
        fetch_dataset(info)
    assert str(cache_dir / "toy/x/a.bin") in str(excinfo.value) and str(cache_dir / "toy/b") in str(
        excinfo.value
    )


def test_a_mirror_folder_works_without_any_server(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "lab mirror"
    (mirror / "toy/sub").mkdir(parents=True)
    (mirror / "toy/sub/a b.bin").write_bytes(A)
    monkeypatch.setenv("OPENRETINA_MIRROR_URL", str(mirror))
    fetch_dataset(toy_info(RemoteFile("sub/a b.bin", urls="https://e.org/a", sha256=sha(A))), download=True)
    assert (cache_dir / "toy/sub/a b.bin").read_bytes() == A


def test_groups_select_files(server: LocalFileServer, cache_dir: Path) -> None:
    server.add_dataset("toy", {"m.bin": A, "q.bin": B, "common.bin": B})
    info = toy_info(
        RemoteFile("m.bin", urls="https://e.org/m", group="mouse"),
        RemoteFile("q.bin", urls="https://e.org/q", group="marmoset"),
        RemoteFile("common.bin", urls="https://e.org/c"),
    )
    fetch_dataset(info, download=True, groups=["mouse"])
    assert sorted(p.name for p in (cache_dir / "toy").glob("*.bin")) == ["common.bin", "m.bin"]


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_archives_are_extracted_only_after_verification(
    server: LocalFileServer, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zipped = _zip_bytes({"neural_code_data/ganglion_cell_data/s1/whitenoise.h5": A})
    server.add_dataset("toy", {"neural_code_data.zip": zipped})
    bad = RemoteFile("neural_code_data.zip", urls="https://e.org/z", sha256="f" * 64, extract=True)
    with pytest.raises(HashMismatchError):
        fetch_dataset(toy_info(bad), download=True)
    assert not (cache_dir / "toy/neural_code_data").exists()

    good = RemoteFile("neural_code_data.zip", urls="https://e.org/z", extract=True)
    root = fetch_dataset(toy_info(good), download=True)
    assert (root / "neural_code_data/ganglion_cell_data/s1/whitenoise.h5").read_bytes() == A
    assert (root / "neural_code_data.zip").read_bytes() == zipped  # the archive is kept beside the folder
    assert [s.status for s in verify_dataset(toy_info(good))] == ["ok", "ok"]

    server.stop()
    monkeypatch.setenv("OPENRETINA_OFFLINE", "1")
    (root / "neural_code_data.zip").unlink()  # a user freeing space: the verified extraction still counts
    assert fetch_dataset(toy_info(good), download=True) == root
    (root / "neural_code_data/ganglion_cell_data/s1/whitenoise.h5").unlink()
    states = verify_dataset(toy_info(good))
    assert [s.status for s in states] == ["missing", "corrupt"] and "whitenoise.h5 is missing" in states[
        1
    ].reason


def test_unresolvable_host_fails_fast_without_retries(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENRETINA_RETRY_BACKOFF_S", "30")  # a retry would make this test time out
    info = toy_info(RemoteFile("a.bin", urls="https://no-such-host.invalid/a.bin"))
    with pytest.raises(DownloadError, match="cannot resolve the host"):
        fetch_dataset(info, download=True)
