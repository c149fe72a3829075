"""Goldin's downloadable files come from the mirror folder's listing (the loopback hub's tree API): every *.h5
directly in ``marre_lab/goldin_2022`` with the species as a name component; the guessed names only as an
offline fallback that says it is unverified."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openretina_goldin_2022 import get_goldin_dataloaders
from openretina_goldin_2022.card import INFO
from openretina_goldin_2022.mirror import published_files
from openretina_goldin_2022.sample import write_sample

from openretina_core.files import listed_info
from openretina_core.testing import LocalFileServer, isolate_downloads

HF = "/datasets/open-retina/open-retina/resolve/main/marre_lab/goldin_2022"
MOUSE = ("20190110_mouse_retina_a", "Mouse_b")  # names the guessed list does not hold
AXOLOTL = "axolotl_2020"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalFileServer]:
    isolate_downloads(monkeypatch, tmp_path)
    with LocalFileServer() as server:
        monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
        yield server


@pytest.fixture
def published(hub: LocalFileServer, tmp_path: Path) -> LocalFileServer:
    """The mirror: two mouse sessions and one axolotl session under unguessed names, plus files that are
    not sessions (a README, a name without a species, a session-like file in a sub-folder)."""
    sample = write_sample(tmp_path / "sample", seed=1, n_train=80, n_test=4, n_repeats=2)
    mouse = (Path(sample.data_dir) / "mouse.h5").read_bytes()
    axolotl = (Path(sample.data_dir) / "axolotl.h5").read_bytes()
    for name in MOUSE:
        hub.add_file(f"{HF}/{name}.h5", mouse)
    hub.add_file(f"{HF}/{AXOLOTL}.h5", axolotl)
    hub.add_file(f"{HF}/README.md", b"Goldin et al. 2022")
    hub.add_file(f"{HF}/dormouse.h5", b"not a session")
    hub.add_file(f"{HF}/old/mouse.h5", mouse)
    hub.tree_page_size = 2  # the listing comes in pages
    return hub


def test_the_listing_gives_every_session_file_by_species(published: LocalFileServer) -> None:
    listed = published_files("refresh")
    assert listed.complete and "Hugging Face listing" in listed.source
    assert set(listed.sessions) == {*MOUSE, AXOLOTL}
    by_path = {f.relative_path: f for f in listed.files}
    assert set(by_path) == {f"{n}.h5" for n in (*MOUSE, AXOLOTL)}
    assert {by_path[f"{n}.h5"].group for n in MOUSE} == {"mouse"}
    assert by_path[f"{AXOLOTL}.h5"].group == "axolotl"
    assert by_path["Mouse_b.h5"].urls == (f"https://huggingface.co{HF}/Mouse_b.h5",)
    cached = published_files("cache")  # no request: the listing just cached
    requests = len(published.requests)
    assert set(cached.sessions) == set(listed.sessions) and "cached" in cached.source
    assert len(published.requests) == requests


def test_without_a_listing_the_guessed_names_say_they_are_unverified(
    hub: LocalFileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fallback = published_files("cache")
    assert not fallback.complete and "UNVERIFIED" in fallback.source
    assert {f.relative_path for f in fallback.files} == {"mouse.h5", "axolotl.h5"}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = published_files("auto")
    assert not offline.complete and "UNVERIFIED" in offline.source
    assert hub.requests == [], "offline: the hub is not asked"
    assert {f.relative_path for f in INFO.files} == {"mouse.h5", "axolotl.h5"}, "the card's static list"


def test_download_fetches_the_listed_files_of_the_species(published: LocalFileServer) -> None:
    assert {f.relative_path for f in listed_info(INFO, "cache").files} == {"mouse.h5", "axolotl.h5"}
    loaders = get_goldin_dataloaders(download=True, batch_size=4, num_val_images=8)
    assert set(loaders["train"]) == set(MOUSE)
    assert all(published.count(f"{HF}/{n}.h5") == 1 for n in MOUSE)
    assert published.count(f"{HF}/{AXOLOTL}.h5") == 0, "only the species asked for is downloaded"
    again = get_goldin_dataloaders(download=False, batch_size=4, num_val_images=8)  # the cached listing
    assert set(again["train"]) == set(MOUSE)
    assert all(published.count(f"{HF}/{n}.h5") == 1 for n in MOUSE)


def test_download_command_names_the_listed_sessions(published: LocalFileServer) -> None:
    from click.testing import CliRunner

    from openretina_core.cli import main

    result = CliRunner().invoke(main, ["download", "goldin_2022", "--species", "axolotl"])
    assert result.exit_code == 0, result.output
    first, *rest = result.output.splitlines()
    assert first.startswith("goldin_2022: 1 session(s)") and "Hugging Face listing" in first
    assert any(AXOLOTL in line and line.endswith("to download") for line in rest)
    assert published.count(f"{HF}/{AXOLOTL}.h5") == 1


def test_download_command_says_the_fallback_names_are_unverified(hub: LocalFileServer) -> None:
    from click.testing import CliRunner

    from openretina_core.cli import main

    result = CliRunner().invoke(main, ["download", "goldin_2022", "--species", "mouse"])
    assert "UNVERIFIED file names guessed" in result.output and "mouse.h5" in result.output
    assert result.exit_code != 0, "the fake hub serves none of the guessed names"
