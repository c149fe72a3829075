"""Folder listings from the hub's tree API (the loopback server's), their cache, and what they give downloads: the
LFS sha256 as the expected hash, and the statement ``openretina-data download`` prints before it starts."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from openretina_core import hookimpl
from openretina_core.cli.cache_commands import register_commands
from openretina_core.files import cache, hub_tree
from openretina_core.files.download import HashMismatchError, fetch_dataset
from openretina_core.files.hub_tree import ListingError, cached_listing, list_tree, next_link
from openretina_core.files.plan import human_size
from openretina_core.files.published import PublishedFiles, listed_info, register_file_lister
from openretina_core.registry.manager import build_plugin_manager, reset_plugin_state
from openretina_core.registry.specs import DatasetInfo, DatasetSpec, RemoteFile
from openretina_core.testing import isolate_downloads
from openretina_core.testing.http import LocalFileServer
from openretina_core.testing.hub_api import tree_entries, tree_page

REPO_ID = "open-retina/open-retina"
FOLDER = "lab/toy/sessions"
RESOLVE = f"/datasets/{REPO_ID}/resolve/main/lab/toy"
API = f"/api/datasets/{REPO_ID}/tree/main/{FOLDER}"
FILES = {f"sessions/s{i}_mouse.bin": bytes([i]) * (1000 + i) for i in range(5)}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalFileServer]:
    isolate_downloads(monkeypatch, tmp_path)
    with LocalFileServer() as srv:
        for rel, data in FILES.items():
            srv.add_file(f"{RESOLVE}/{rel}", data)
        srv.add_file(f"{RESOLVE}/sessions/s9_mouse/part.bin", b"p" * 10)
        monkeypatch.setenv("OPENRETINA_HF_URL", srv.url)
        yield srv


def test_listing_follows_every_page(server: LocalFileServer) -> None:
    server.tree_page_size = 2
    listing = list_tree("toy", REPO_ID, FOLDER)
    files = {e.path: e for e in listing.files()}
    assert set(files) == {f"lab/toy/{rel}" for rel in FILES} | {"lab/toy/sessions/s9_mouse/part.bin"}
    for rel, data in FILES.items():
        assert (files[f"lab/toy/{rel}"].size, files[f"lab/toy/{rel}"].sha256) == (len(data), sha(data))
    assert [e.path for e in listing.entries if e.kind == "directory"] == ["lab/toy/sessions/s9_mouse"]
    assert server.count(API) == 4  # 7 entries, 2 per page
    assert not listing.from_cache


def test_listing_without_recursion_shows_folders(server: LocalFileServer) -> None:
    listing = list_tree("toy", REPO_ID, FOLDER, recursive=False)
    assert ("lab/toy/sessions/s9_mouse", "directory") in {(e.path, e.kind) for e in listing.entries}
    assert "lab/toy/sessions/s9_mouse/part.bin" not in {e.path for e in listing.entries}


def test_missing_folder_is_a_listing_error(server: LocalFileServer) -> None:
    with pytest.raises(ListingError, match="HTTP 404"):
        list_tree("toy", REPO_ID, "lab/none")


@pytest.mark.parametrize("switch", ["HF_HUB_OFFLINE", "OPENRETINA_OFFLINE"])
def test_cached_listing_serves_offline_without_a_request(
    server: LocalFileServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, switch: str
) -> None:
    first = list_tree("toy", REPO_ID, FOLDER)
    requests = len(server.requests)
    monkeypatch.setenv(switch, "1")
    with caplog.at_level(logging.WARNING):
        again = list_tree("toy", REPO_ID, FOLDER)
    assert again.entries == first.entries and again.from_cache
    assert len(server.requests) == requests
    assert "may be stale" in caplog.text and switch in caplog.text


def test_offline_without_a_cached_listing_is_an_error(
    server: LocalFileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "true")
    with pytest.raises(ListingError, match="no listing of .* is cached and HF_HUB_OFFLINE=1"):
        list_tree("toy", REPO_ID, FOLDER)
    assert server.requests == []


def test_failing_hub_falls_back_to_the_cached_listing(
    server: LocalFileServer, caplog: pytest.LogCaptureFixture
) -> None:
    first = list_tree("toy", REPO_ID, FOLDER)
    server.fail(API, times=2, status=503)
    with caplog.at_level(logging.WARNING):
        again = list_tree("toy", REPO_ID, FOLDER)
    assert again.entries == first.entries and again.from_cache and "503" in again.stale_reason
    assert "may be stale" in again.describe() and "may be stale" in caplog.text


def test_cache_only_mode_asks_nothing(server: LocalFileServer) -> None:
    assert cached_listing("toy", REPO_ID, FOLDER) is None
    list_tree("toy", REPO_ID, FOLDER)
    requests = len(server.requests)
    cached = list_tree("toy", REPO_ID, FOLDER, refresh=False)
    assert cached.from_cache and not cached.stale_reason and len(server.requests) == requests


def test_listing_is_written_atomically_into_the_dataset_folder(
    server: LocalFileServer, tmp_path: Path
) -> None:
    list_tree("toy", REPO_ID, FOLDER)
    folder = tmp_path / "cache" / "toy" / ".openretina" / "listings"
    written = list(folder.iterdir())
    assert len(written) == 1 and written[0].suffix == ".json"  # no temporary file left behind
    assert json.loads(written[0].read_text())["repo_id"] == REPO_ID
    assert cache.cached_files(tmp_path / "cache" / "toy") == []  # metadata, not a data file


def test_gated_listing_needs_the_token(server: LocalFileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.gated_token = "hf_listing"
    with pytest.raises(ListingError, match="HF_TOKEN=<your token> or run `huggingface-cli login`"):
        list_tree("toy", REPO_ID, FOLDER)
    monkeypatch.setenv("HF_TOKEN", "hf_listing")
    assert len(list_tree("toy", REPO_ID, FOLDER).files()) == len(FILES) + 1
    assert set(server.authorizations(API)) == {None, "Bearer hf_listing"}


def toy_info(*rels: str) -> DatasetInfo:
    files = tuple(RemoteFile(r, urls=f"https://huggingface.co{RESOLVE}/{r}", group="mouse") for r in rels)
    return DatasetInfo(id="toy", title="Toy", authors=("A",), year=2024, files=files)


def test_listed_sha256_is_the_expected_hash(server: LocalFileServer) -> None:
    list_tree("toy", REPO_ID, FOLDER)
    root = fetch_dataset(toy_info("sessions/s0_mouse.bin"), download=True)
    record = cache.read_record(root, "sessions/s0_mouse.bin")
    assert (
        record is not None
        and record.source == "host-listing"
        and record.sha256 == sha(FILES["sessions/s0_mouse.bin"])
    )


def test_file_that_differs_from_the_listing_is_refused(server: LocalFileServer) -> None:
    list_tree("toy", REPO_ID, FOLDER)
    rel = "sessions/s1_mouse.bin"
    server.add_file(f"{RESOLVE}/{rel}", b"x" * len(FILES[rel]))  # same size, other bytes
    with pytest.raises(HashMismatchError, match="host-listing"):
        fetch_dataset(toy_info(rel), download=True)
    assert not (cache.cache_root() / "toy" / rel).exists()


def test_next_link_parses_the_hub_header() -> None:
    assert next_link('<https://h/api?cursor=2>; rel="next"') == "https://h/api?cursor=2"
    assert next_link('<https://h/a>; rel="prev", <https://h/b>; rel=next') == "https://h/b"
    assert next_link(None) is None and next_link('<https://h/a>; rel="last"') is None


@settings(max_examples=40, deadline=None)
@given(
    names=st.sets(
        st.from_regex(r"[a-c]{1,2}(/[a-c]{1,2}){0,2}\.bin", fullmatch=True), min_size=1, max_size=12
    ),
    page_size=st.integers(1, 5),
)
def test_pages_together_are_the_whole_listing(names: set[str], page_size: int) -> None:
    files: dict[str, tuple[bytes | None, dict[str, str]]] = {
        f"/datasets/o/r/resolve/main/{n}": (n.encode(), {}) for n in names
    }
    whole = tree_entries(files, "datasets", "o/r", "main", "", recursive=True)
    seen: list[dict[str, Any]] = []
    path, query = "/api/datasets/o/r/tree/main", "recursive=true"
    for _ in range(100):
        status, body, headers = tree_page(files, "http://h", path, query, page_size=page_size)
        assert status == 200
        seen.extend(json.loads(body))
        if "Link" not in headers:
            break
        query = headers["Link"].split("?", 1)[1].split(">", 1)[0]
    assert seen == whole
    assert {e["path"] for e in seen if e["type"] == "file"} == names


# --- the statement before a download ------------------------------------------------------------------------


class _Plugin:
    @hookimpl
    def register_datasets(self, register: Any) -> None:
        register(DatasetSpec(info=toy_info("sessions/s0_mouse.bin"), get_dataloaders=lambda **kwargs: {}))


def _lister(mode: str) -> PublishedFiles:
    listing = list_tree("toy", REPO_ID, FOLDER, refresh=mode == "refresh")
    rels = [e.path.removeprefix("lab/toy/") for e in listing.files()]
    files = toy_info(*rels).files
    sessions: dict[str, tuple[str, ...]] = {}
    for rel in rels:
        sessions.setdefault(rel.split("/")[1].removesuffix(".bin"), ())
        sessions[rel.split("/")[1].removesuffix(".bin")] += (rel,)
    return PublishedFiles(files, listing.describe(), sessions)


@pytest.fixture
def cli(server: LocalFileServer) -> Iterator[click.Group]:
    state = build_plugin_manager(load_entry_points=False)
    state.manager.register(_Plugin(), name="toy-hub")
    reset_plugin_state(state)

    @click.group()
    def group() -> None:
        pass

    register_commands(group)
    try:
        yield group
    finally:
        reset_plugin_state(None)
        register_file_lister("toy", None)


def test_download_states_sessions_and_bytes_first(cli: click.Group, server: LocalFileServer) -> None:
    fetch_dataset(toy_info("sessions/s0_mouse.bin"), download=True)  # one session already cached
    register_file_lister("toy", _lister)
    result = CliRunner().invoke(cli, ["download", "toy"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    total = sum(len(d) for d in FILES.values()) + 10
    assert lines[0].startswith(
        f"toy: 6 session(s) (6 file(s), {human_size(total)}), from the Hugging Face listing"
    )
    assert any("s0_mouse" in line and line.endswith("cached") for line in lines)
    assert any("s9_mouse" in line and "10 B" in line and line.endswith("to download") for line in lines)
    assert "already cached: 1 session(s), 1000 B" in lines
    assert "to download: 5 session(s)" in result.output
    assert lines[-1].startswith("toy: 6 file(s) ready in ")
    assert server.count(f"{RESOLVE}/sessions/s0_mouse.bin") == 1  # the cached one was not fetched again


def test_download_without_a_listing_says_size_unknown(cli: click.Group, server: LocalFileServer) -> None:
    result = CliRunner().invoke(cli, ["download", "toy"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "toy: 1 file(s) (1 file(s), size unknown), from the dataset card"
    assert "to download: 1 file(s), size unknown" in result.output


def test_listed_info_without_a_lister_is_the_card() -> None:
    card = toy_info("sessions/s0_mouse.bin")
    assert listed_info(card, "refresh") is card
    assert hub_tree.split_hub_url(f"https://huggingface.co{RESOLVE}/sessions/a%20b.bin") == (
        "dataset",
        REPO_ID,
        "main",
        "lab/toy/sessions/a b.bin",
    )
