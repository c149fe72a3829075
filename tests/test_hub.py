"""Hugging Face conventions for files on the hub, against loopback servers: HF_ENDPOINT (and its precedence with
OPENRETINA_HF_URL), HF_HUB_OFFLINE (no request at all), the user's token (HF_TOKEN or the token file) sent to the
hub's origin only, and what a gated repository's 401/403 says."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from openretina_core.files import hub
from openretina_core.files.download import DownloadError, OfflineError, fetch_dataset
from openretina_core.registry.specs import DatasetInfo, RemoteFile
from openretina_core.testing import isolate_downloads
from openretina_core.testing.http import LocalFileServer

REPO = "/datasets/open-retina/open-retina/resolve/main/baccus_lab/toy"
HF = f"https://huggingface.co{REPO}"
A, B = b"a" * 70_000, b"b" * 3_000
TOKEN = "hf_loopbackSecret123"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate_downloads(monkeypatch, tmp_path)


@pytest.fixture
def server(env: Path) -> Iterator[LocalFileServer]:
    with LocalFileServer() as srv:
        srv.add_file(f"{REPO}/a.bin", A)
        srv.add_file(f"{REPO}/b.bin", B)
        yield srv


def info(*names: str, extra_urls: tuple[str, ...] = ()) -> DatasetInfo:
    files = tuple(RemoteFile(n, urls=(f"{HF}/{n}", *extra_urls)) for n in names)
    return DatasetInfo(id="hub_toy", title="Hub toy", authors=("A",), year=2024, files=files)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_hf_endpoint_moves_hub_urls(server: LocalFileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", server.url + "/")  # a trailing slash is dropped, as the hub does
    root = fetch_dataset(info("a.bin"), download=True)
    assert (root / "a.bin").read_bytes() == A
    assert server.count(f"{REPO}/a.bin") == 1


def test_project_override_wins_over_hf_endpoint(
    server: LocalFileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
    assert hub.hub_endpoint() == server.url
    fetch_dataset(info("a.bin"), download=True)
    assert server.count(f"{REPO}/a.bin") == 1


def test_hub_endpoint_defaults_to_huggingface(env: Path) -> None:
    assert hub.hub_endpoint() == "https://huggingface.co"
    assert hub.on_hub_origin("https://huggingface.co/api/datasets/x/y/tree/main")
    assert not hub.on_hub_origin("https://cdn-lfs.huggingface.co/repos/ab/cd")


@pytest.mark.parametrize("value", ["1", "true", "YES", "On"])
def test_hub_offline_serves_cached_files_and_asks_nothing(
    server: LocalFileServer, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
    fetch_dataset(info("a.bin"), download=True)
    before = len(server.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    root = fetch_dataset(info("a.bin"), download=True)
    assert (root / "a.bin").read_bytes() == A
    with pytest.raises(OfflineError) as caught:
        fetch_dataset(info("a.bin", "b.bin"), download=True)
    message = str(caught.value)
    assert "b.bin" in message and "HF_HUB_OFFLINE=1" in message and "offline mode" in message
    assert "a.bin" not in message.split("missing:")[1]  # only the missing file is named
    assert len(server.requests) == before  # not one request in offline mode


def test_hub_offline_still_uses_other_hosts(server: LocalFileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.add_file("/gin/b.bin", B)
    monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
    monkeypatch.setenv("OPENRETINA_GIN_URL", server.url + "/gin")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = fetch_dataset(info("b.bin", extra_urls=("https://gin.g-node.org/b.bin",)), download=True)
    assert (root / "b.bin").read_bytes() == B
    assert server.count(f"{REPO}/b.bin") == 0 and server.count("/gin/b.bin") == 1


def test_token_goes_to_the_hub_and_never_to_the_cdn(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalFileServer() as hub_server, LocalFileServer() as cdn:
        cdn.add_file("/repos/ab/a.bin", A)
        hub_server.add_redirect(
            f"{REPO}/a.bin", cdn.url_for("/repos/ab/a.bin"), headers={"X-Linked-Etag": f'"{sha(A)}"'}
        )
        hub_server.gated_token = TOKEN
        monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        root = fetch_dataset(info("a.bin"), download=True)
        assert (root / "a.bin").read_bytes() == A
        assert hub_server.authorizations(f"{REPO}/a.bin") == [f"Bearer {TOKEN}"]
        assert cdn.authorizations() == [None]


def test_redirect_on_the_hub_keeps_the_token(
    server: LocalFileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renamed repository answers with a redirect on the hub itself: the token follows it there."""
    server.add_redirect("/datasets/old-name/open-retina/resolve/main/baccus_lab/toy/a.bin", f"{REPO}/a.bin")
    server.gated_token = TOKEN
    monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    moved = "https://huggingface.co/datasets/old-name/open-retina/resolve/main/baccus_lab/toy/a.bin"
    data = DatasetInfo(
        id="hub_toy", title="t", authors=("A",), year=2024, files=(RemoteFile("a.bin", urls=moved),)
    )
    fetch_dataset(data, download=True)
    assert server.authorizations(f"{REPO}/a.bin") == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize("via", ["HF_TOKEN_PATH", "HF_HOME"])
def test_token_from_the_login_file(
    server: LocalFileServer, env: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    path = env / "hf-home" / "token" if via == "HF_HOME" else env / "elsewhere" / "my-token"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{TOKEN}\n", encoding="utf-8")
    if via == "HF_TOKEN_PATH":
        monkeypatch.setenv("HF_TOKEN_PATH", str(path))
    server.gated_token = TOKEN
    monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
    assert hub.hub_token() == (TOKEN, str(path))
    fetch_dataset(info("a.bin"), download=True)
    assert server.authorizations(f"{REPO}/a.bin") == [f"Bearer {TOKEN}"]


def test_hf_token_wins_over_the_login_file(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (env / "hf-home").mkdir()
    (env / "hf-home" / "token").write_text("hf_fromfile", encoding="utf-8")
    monkeypatch.setenv("HF_TOKEN", " hf_fromenv ")
    assert hub.hub_token() == ("hf_fromenv", "HF_TOKEN")


def test_gated_repository_without_a_token_says_how_to_log_in(
    server: LocalFileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.gated_token = TOKEN
    monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
    with pytest.raises(DownloadError) as caught:
        fetch_dataset(info("a.bin"), download=True)
    message = str(caught.value)
    assert "HTTP 401" in message and "gated" in message
    assert "HF_TOKEN" in message and "huggingface-cli login" in message
    assert server.count(f"{REPO}/a.bin") == 1  # refused for good: not retried


def test_refused_token_is_named_by_its_source_never_shown(
    server: LocalFileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.gated_token = TOKEN
    monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
    monkeypatch.setenv("HF_TOKEN", "hf_wrongWrongWrong")
    with pytest.raises(DownloadError) as caught:
        fetch_dataset(info("a.bin"), download=True)
    message = str(caught.value)
    assert "HTTP 403" in message and "token from HF_TOKEN was sent but refused" in message
    assert "hf_wrongWrongWrong" not in message


def test_no_token_header_without_a_token(server: LocalFileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
    fetch_dataset(info("a.bin"), download=True)
    assert server.authorizations(f"{REPO}/a.bin") == [None]
