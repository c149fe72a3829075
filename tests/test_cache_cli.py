"""``download``, ``verify`` and ``cache info|clean`` through click's runner, on a throwaway dataset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from openretina_core import hookimpl
from openretina_core.cli.cache_commands import register_commands
from openretina_core.registry.manager import build_plugin_manager, reset_plugin_state
from openretina_core.registry.specs import DatasetInfo, DatasetSpec, RemoteFile
from openretina_core.testing.http import LocalFileServer

MOUSE, MARMOSET, README = b"m" * 4096, b"q" * 2048, b"read me"

INFO = DatasetInfo(
    id="cli_toy",
    title="CLI toy",
    authors=("A",),
    year=2024,
    files=(
        RemoteFile("mouse/data.bin", urls="https://zenodo.org/records/1/files/m.bin", group="mouse"),
        RemoteFile("marmoset/data.bin", urls="https://zenodo.org/records/1/files/q.bin", group="marmoset"),
        RemoteFile("README.txt", urls="https://zenodo.org/records/1/files/README.txt"),
    ),
)


class CliToyPlugin:
    @hookimpl
    def register_datasets(self, register: Any) -> None:
        register(DatasetSpec(info=INFO, get_dataloaders=lambda **kwargs: {}))


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[click.Group]:
    """A CLI group with only our commands, a fresh plugin manager with the toy dataset, a local server."""
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENRETINA_RETRY_BACKOFF_S", "0")
    for name in ("OPENRETINA_OFFLINE", "OPENRETINA_MIRROR_URL"):
        monkeypatch.delenv(name, raising=False)
    state = build_plugin_manager(load_entry_points=False)
    state.manager.register(CliToyPlugin(), name="cli-toy")
    reset_plugin_state(state)

    @click.group()
    def group() -> None:
        pass

    register_commands(group)
    with LocalFileServer() as server:
        server.add_file("/records/1/files/m.bin", MOUSE)
        server.add_file("/records/1/files/q.bin", MARMOSET)
        server.add_file("/records/1/files/README.txt", README)
        monkeypatch.setenv("OPENRETINA_ZENODO_URL", server.url)
        try:
            yield group
        finally:
            reset_plugin_state(None)


def run(group: click.Group, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(group, list(args), input=input)


def test_register_commands_adds_download_verify_and_cache(cli: click.Group) -> None:
    assert {"download", "verify", "cache"} <= set(cli.commands)
    assert {"info", "clean"} <= set(cli.commands["cache"].commands)  # type: ignore[attr-defined]


def test_download_with_species_fetches_only_that_group(cli: click.Group, tmp_path: Path) -> None:
    result = run(cli, "download", "cli_toy", "--species", "mouse")
    assert result.exit_code == 0, result.output
    root = tmp_path / "cache/cli_toy"
    assert f"2 file(s) ready in {root}" in result.output
    assert (root / "mouse/data.bin").read_bytes() == MOUSE and (root / "README.txt").read_bytes() == README
    assert not (root / "marmoset").exists()


def test_download_refuses_unknown_species_and_datasets(cli: click.Group) -> None:
    bad = run(cli, "download", "cli_toy", "--species", "axolotl")
    assert bad.exit_code == 2 and "marmoset, mouse" in bad.output
    unknown = run(cli, "download", "no_such_dataset")
    assert unknown.exit_code == 1 and "unknown dataset 'no_such_dataset'" in unknown.output


def test_download_reports_network_failures(cli: click.Group, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRETINA_OFFLINE", "1")
    result = run(cli, "download", "cli_toy")
    assert result.exit_code == 1 and "OPENRETINA_OFFLINE=1" in result.output and "README.txt" in result.output


def test_verify_reports_ok_then_corruption(cli: click.Group, tmp_path: Path) -> None:
    assert "nothing of cli_toy is cached" in run(cli, "verify", "cli_toy").output
    assert run(cli, "download", "cli_toy").exit_code == 0
    result = run(cli, "verify", "cli_toy")
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") == 3
    (tmp_path / "cache/cli_toy/marmoset/data.bin").write_bytes(b"x" * 2048)
    result = run(cli, "verify", "cli_toy")
    assert result.exit_code == 1
    assert (
        "CORRUPT" in result.output
        and "marmoset/data.bin" in result.output
        and "download cli_toy" in result.output
    )


def test_cache_info_lists_sizes_and_location(cli: click.Group, tmp_path: Path) -> None:
    empty = run(cli, "cache", "info")
    assert (
        empty.exit_code == 0 and f"cache: {tmp_path / 'cache'}" in empty.output and "(empty)" in empty.output
    )
    run(cli, "download", "cli_toy")
    result = run(cli, "cache", "info")
    assert "cli_toy" in result.output and "3 files" in result.output and "6.0 KiB" in result.output
    detail = run(cli, "cache", "info", "cli_toy")
    assert "mouse/data.bin" in detail.output and "4.0 KiB" in detail.output
    data = json.loads(run(cli, "cache", "info", "--json").output)
    (entry,) = data["datasets"]
    assert entry["files"] == 3 and entry["bytes"] == len(MOUSE) + len(MARMOSET) + len(README)
    assert run(cli, "cache", "info", "other").exit_code == 1


def test_cache_clean_removes_a_dataset_and_partials(cli: click.Group, tmp_path: Path) -> None:
    run(cli, "download", "cli_toy")
    root = tmp_path / "cache/cli_toy"
    leftover = root / ".openretina/partial/x.bin~host-1-abc.part"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"0" * 100)
    assert "100 B freed" in run(cli, "cache", "clean", "--partial").output and not leftover.exists()
    assert run(cli, "cache", "clean").exit_code == 2
    aborted = run(cli, "cache", "clean", "cli_toy", input="n\n")
    assert aborted.exit_code == 1 and root.exists()
    result = run(cli, "cache", "clean", "cli_toy", "--yes")
    assert result.exit_code == 0 and "6.0 KiB freed" in result.output and not root.exists()
    missing = run(cli, "cache", "clean", "cli_toy", "--yes")
    assert missing.exit_code == 1 and "not in the cache" in missing.output
    assert run(cli, "cache", "clean", "../etc", "--yes").exit_code == 1
