"""Cache location, records, URL resolution (mirror, host overrides) and the progress switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openretina_core.files import cache, hosts, progress
from openretina_core.registry.specs import RemoteFile


def test_cache_root_comes_from_the_environment_or_the_platform(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "c"))
    assert cache.cache_root() == tmp_path / "c" and cache.dataset_cache_dir("x") == tmp_path / "c/x"
    monkeypatch.delenv("OPENRETINA_CACHE_DIR")
    import platformdirs

    assert cache.cache_root() == Path(platformdirs.user_cache_dir("openretina"))
    for bad in ("", "..", "a/b"):
        with pytest.raises(ValueError, match="folder name"):
            cache.dataset_cache_dir(bad)


@pytest.mark.parametrize(
    "rel", ["/abs.h5", "../up.h5", "a/../b.h5", "a\\b.h5", "./a.h5", ".openretina/x", ""]
)
def test_unsafe_relative_paths_are_refused(rel: str) -> None:
    with pytest.raises(ValueError, match="plain relative path"):
        hosts.check_relative_path(rel, "toy")


def test_records_live_beside_the_files_and_are_written_atomically(tmp_path: Path) -> None:
    data = tmp_path / "sub/a.bin"
    data.parent.mkdir()
    data.write_bytes(b"abc")
    cache.stamp_record(tmp_path, data, "sub/a.bin", "f" * 64, "declared", "https://h/a")
    path = tmp_path / ".openretina/records/sub/a.bin.json"
    assert json.loads(path.read_text())["sha256"] == "f" * 64
    assert [p.name for p in path.parent.iterdir()] == ["a.bin.json"]  # no temporary left behind
    record = cache.read_record(tmp_path, "sub/a.bin")
    assert record is not None and record.matches(data.stat())
    path.write_text("{not json")
    assert cache.read_record(tmp_path, "sub/a.bin") is None  # a broken record is rebuilt, not fatal


def test_existing_file_without_record_is_hashed_once_and_recorded(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"data")
    state = cache.check_file(tmp_path, RemoteFile("a.bin", urls="https://h/a"))
    assert state.status == "ok" and cache.read_record(tmp_path, "a.bin").source == "existing-file"  # type: ignore[union-attr]
    wrong = cache.check_file(tmp_path, RemoteFile("a.bin", urls="https://h/a", sha256="0" * 64))
    assert wrong.status == "corrupt" and wrong.expected == "0" * 64
    sized = cache.check_file(tmp_path, RemoteFile("a.bin", urls="https://h/a", size=99))
    assert sized.status == "corrupt" and "expected 99 bytes" in sized.reason


def test_mirror_replaces_every_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    remote = RemoteFile(
        "sub dir/a.zip", urls=("https://huggingface.co/x/a.zip", "https://zenodo.org/y/a.zip")
    )
    monkeypatch.delenv("OPENRETINA_HF_URL", raising=False)
    monkeypatch.setenv("OPENRETINA_MIRROR_URL", "http://mirror.lab:8080/openretina/")
    assert hosts.candidate_urls("toy", remote) == ["http://mirror.lab:8080/openretina/toy/sub%20dir/a.zip"]
    monkeypatch.setenv("OPENRETINA_MIRROR_URL", str(tmp_path))
    assert hosts.candidate_urls("toy", remote) == [f"{tmp_path.as_uri()}/toy/sub%20dir/a.zip"]


def test_host_overrides_replace_scheme_and_host_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENRETINA_MIRROR_URL", raising=False)
    monkeypatch.setenv("OPENRETINA_HF_URL", "http://127.0.0.1:9/hf/")
    monkeypatch.setenv("OPENRETINA_GIN_URL", "http://127.0.0.1:9/gin")
    monkeypatch.setenv("OPENRETINA_SDR_URL", "http://127.0.0.1:9/sdr")
    monkeypatch.delenv("OPENRETINA_ZENODO_URL", raising=False)
    urls = (
        "https://huggingface.co/datasets/open-retina/open-retina/resolve/main/a.zip?download=true",
        "https://gin.g-node.org/eulerlab/rgc-natstim/raw/master/b.h5",
        "https://stacks.stanford.edu/file/druid:rk663dm5577/c.zip",
        "https://zenodo.org/records/6868362/files/d.zip",
    )
    assert hosts.candidate_urls("toy", RemoteFile("a.zip", urls=urls)) == [
        "http://127.0.0.1:9/hf/datasets/open-retina/open-retina/resolve/main/a.zip?download=true",
        "http://127.0.0.1:9/gin/eulerlab/rgc-natstim/raw/master/b.h5",
        "http://127.0.0.1:9/sdr/file/druid:rk663dm5577/c.zip",
        "https://zenodo.org/records/6868362/files/d.zip",
    ]


def test_progress_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", Tty())
    monkeypatch.delenv("OPENRETINA_NO_PROGRESS", raising=False)
    assert progress.progress_enabled()
    monkeypatch.setenv("OPENRETINA_NO_PROGRESS", "1")
    assert not progress.progress_enabled()
    monkeypatch.delenv("OPENRETINA_NO_PROGRESS")
    monkeypatch.setattr("sys.stderr", object())  # not a terminal (e.g. a batch job's log file)
    assert not progress.progress_enabled()
    assert progress.byte_bar("x", total=10).disable
