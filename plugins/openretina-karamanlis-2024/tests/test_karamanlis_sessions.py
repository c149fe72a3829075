"""Every published session from the mirror's listing (the loopback hub's tree API), the known names as the
offline fallback, and what ``openretina-data download karamanlis_2024`` says before it fetches."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from openretina_karamanlis_2024 import get_karamanlis_dataloaders
from openretina_karamanlis_2024.constants import KNOWN_SESSIONS
from openretina_karamanlis_2024.sample import MARMOSET, MOUSE, write_sample
from openretina_karamanlis_2024.sessions import published_files

from openretina_core.testing import LocalFileServer, isolate_downloads, zip_folder

HF = "/datasets/open-retina/open-retina/resolve/main/gollisch_lab/karamanlis_2024/sessions"
API = "/api/datasets/open-retina/open-retina/tree/main/gollisch_lab/karamanlis_2024/sessions"
FOLDER_SESSION = "20210115_252MEA_mouse_left_half_ventral"  # published as a folder, not a zip
UNKNOWN = "20990101_252MEA_mouse_right_half_dorsal"  # on the mirror, not among the known names
SMALL = {"blocks": 2, "frames_per_block": 120, "frozen_frames": 40, "trials": 2, "image_shape": (80, 110)}
LOADER = {"batch_size": 4, "clip_length": 10, "num_val_clips": 2, "train_chunk_size": 10}


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalFileServer]:
    isolate_downloads(monkeypatch, tmp_path)
    with LocalFileServer() as server:
        monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
        yield server


@pytest.fixture
def published(hub: LocalFileServer, tmp_path: Path) -> LocalFileServer:
    """The mirror: two zipped sessions, one session as a folder, one unknown here, a README and stray files."""
    sample = write_sample(tmp_path / "sample", seed=2, n_images=4, n_neurons=3, **SMALL)
    sessions = Path(sample.data_dir) / "sessions"
    hub.add_file(f"{HF}/{MOUSE}.zip", zip_folder(sessions / MOUSE))
    hub.add_file(f"{HF}/{MARMOSET}.zip", zip_folder(sessions / MARMOSET))
    mat = (sessions / MOUSE / f"{MOUSE}_fixationmovie_data.mat").read_bytes()
    hub.add_file(f"{HF}/{FOLDER_SESSION}/{FOLDER_SESSION}_fixationmovie_data.mat", mat)
    hub.add_file(f"{HF}/{UNKNOWN}.zip", zip_folder(sessions / MOUSE, top=UNKNOWN))
    hub.add_file(f"{HF}/README.md", b"sessions of Karamanlis et al.")
    hub.add_file(f"{HF}/.gitattributes", b"*.zip filter=lfs")
    hub.tree_page_size = 2  # the listing comes in pages
    return hub


def test_every_listed_session_with_its_files(published: LocalFileServer) -> None:
    listed = published_files("refresh")
    assert listed.complete and "Hugging Face listing" in listed.source
    assert set(listed.sessions) == {MOUSE, MARMOSET, FOLDER_SESSION, UNKNOWN}
    by_path = {f.relative_path: f for f in listed.files}
    assert by_path[f"sessions/{MOUSE}.zip"].extract and by_path[f"sessions/{MOUSE}.zip"].group == "mouse"
    assert by_path[f"sessions/{MARMOSET}.zip"].group == "marmoset"
    inner = f"sessions/{FOLDER_SESSION}/{FOLDER_SESSION}_fixationmovie_data.mat"
    assert listed.sessions[FOLDER_SESSION] == (inner,) and not by_path[inner].extract
    assert by_path[inner].urls == (
        f"https://huggingface.co{HF}/{FOLDER_SESSION}/{FOLDER_SESSION}_fixationmovie_data.mat",
    )
    assert not any("README" in p or "gitattributes" in p for p in by_path)


def test_known_names_when_the_mirror_cannot_be_listed(
    hub: LocalFileServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        listed = published_files("refresh")  # the hub answers 404: nothing is published there
    assert not listed.complete and "known to this plugin" in listed.source
    names = {n for names in KNOWN_SESSIONS.values() for n in names}
    assert set(listed.sessions) == names and len(names) == 13
    assert {"20220329_60MEA_marmoset_right_i1", "20210916_252MEA_mouse_right_half_ventral"} <= names
    assert "cannot list the published sessions" in caplog.text


def test_offline_without_a_listing_asks_nothing(
    hub: LocalFileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    listed = published_files("auto")
    assert not listed.complete and hub.requests == []


def test_cached_listing_is_used_without_network(
    published: LocalFileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not published_files("cache").complete  # nothing cached yet, and no request for it
    assert published.requests == []
    published_files("auto")
    requests = len(published.requests)
    assert set(published_files("cache").sessions) == {MOUSE, MARMOSET, FOLDER_SESSION, UNKNOWN}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = published_files("refresh")
    assert offline.complete and "may be stale" in offline.source
    assert len(published.requests) == requests


def test_loader_downloads_every_listed_session_of_the_species(
    published: LocalFileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaders = get_karamanlis_dataloaders(download=True, species="mouse", **LOADER)
    assert set(loaders["train"]) == {MOUSE, FOLDER_SESSION, UNKNOWN}
    assert published.count(f"{HF}/{MARMOSET}.zip") == 0 and published.count(f"{HF}/README.md") == 0
    published.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = get_karamanlis_dataloaders(download=False, species="mouse", **LOADER)
    assert set(again["train"]) == {MOUSE, FOLDER_SESSION, UNKNOWN}


@pytest.fixture
def cli() -> click.Group:
    from openretina_core.cli import main

    return main


def test_download_command_names_sessions_and_bytes(published: LocalFileServer, cli: click.Group) -> None:
    result = CliRunner().invoke(cli, ["download", "karamanlis_2024", "--species", "marmoset"])
    assert result.exit_code == 0, result.output
    first, *rest = result.output.splitlines()
    assert first.startswith("karamanlis_2024: 1 session(s) (1 file(s), ") and "Hugging Face listing" in first
    assert any(MARMOSET in line and line.endswith("to download") for line in rest)
    assert "to download: 1 session(s)" in result.output and "size unknown" not in result.output
    again = CliRunner().invoke(cli, ["download", "karamanlis_2024", "--species", "marmoset"])
    assert "to download: nothing, every session is cached" in again.output
    assert published.count(f"{HF}/{MARMOSET}.zip") == 1


def test_download_command_says_when_it_falls_back(hub: LocalFileServer, cli: click.Group) -> None:
    result = CliRunner().invoke(cli, ["download", "karamanlis_2024", "--species", "marmoset"])
    assert "karamanlis_2024: 4 session(s) (4 file(s), size unknown)" in result.output
    assert "note: the host's listing was not available" in result.output
    assert result.exit_code != 0 and "could not download" in result.output  # the fake hub serves none of them
