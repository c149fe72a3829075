"""``openretina_core.store.prepare`` and ``openretina-data prepare`` / ``cache info`` / ``cache clean --prepared``
on the toy dataset plugin, whose loader goes through the prepared store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from toy_dataset_plugin import SESSIONS, write_toy_sample

import openretina_core as orc
from openretina_core.cli import cache_commands, prepare_command
from openretina_core.store import list_entries, prepare


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toy_plugins: Any) -> Path:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENRETINA_NO_STORE", raising=False)
    write_toy_sample(tmp_path / "toy")
    return tmp_path / "toy"


def _count_source_reads(monkeypatch: pytest.MonkeyPatch, root: Path) -> list[str]:
    reads: list[str] = []
    original = np.load

    def counting(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file).startswith(str(root)):
            reads.append(str(file))
        return original(file, *args, **kwargs)

    monkeypatch.setattr(np, "load", counting)
    return reads


def test_prepare_then_every_load_maps_and_reads_no_source(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = prepare("toy_2025", data_dir=sample, download=False)
    assert sorted(e.session for e in entries) == sorted(SESSIONS) and all(e.bytes > 0 for e in entries)
    reads = _count_source_reads(monkeypatch, sample)
    loaders = orc.get_dataloaders("toy_2025", data_dir=sample, batch_size=4)
    assert reads == [], "a prepared dataset's load reads none of the published files"
    assert loaders.data_info["movie_copies_made"] == 0
    monkeypatch.setenv("OPENRETINA_NO_STORE", "1")
    memory = orc.get_dataloaders("toy_2025", data_dir=sample, batch_size=4)
    assert reads, "with the store switched off the files are read into memory"
    for session in SESSIONS:
        for (x1, y1), (x2, y2) in zip(
            loaders["validation"][session], memory["validation"][session], strict=True
        ):
            assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_prepare_of_a_dataset_that_keeps_no_store_returns_nothing(
    toy_plugins: Any, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    write_toy_sample(tmp_path / "toy")
    assert prepare("toy_2025", data_dir=tmp_path / "toy", download=False, prepared=False) == []


@pytest.fixture
def cli() -> click.Group:
    @click.group()
    def group() -> None:
        pass

    cache_commands.register_commands(group)
    prepare_command.register_commands(group)
    return group


def test_cli_prepare_info_and_clean(sample: Path, cli: click.Group) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["prepare", "toy_2025", "--data-dir", str(sample), "--no-download"])
    assert result.exit_code == 0, result.output
    assert "toy_2025: 2 prepared entries" in result.output and SESSIONS[0] in result.output
    info = runner.invoke(cli, ["cache", "info", "toy_2025"])
    assert info.exit_code == 0, info.output
    assert "2 prepared" in info.output and f"prepared {SESSIONS[0]}/" in info.output
    cleaned = runner.invoke(cli, ["cache", "clean", "toy_2025", "--prepared", "--session", SESSIONS[0], "-y"])
    assert cleaned.exit_code == 0 and "freed" in cleaned.output
    assert [e.session for e in list_entries("toy_2025")] == [SESSIONS[1]]
    wrong = runner.invoke(cli, ["cache", "clean", "toy_2025", "--session", SESSIONS[1]])
    assert wrong.exit_code != 0 and "add --prepared" in wrong.output
    bad = runner.invoke(cli, ["prepare", "toy_2025", "--option", "nonsense"])
    assert bad.exit_code != 0 and "expected KEY=VALUE" in bad.output


def test_cli_prepare_passes_options_as_json(sample: Path, cli: click.Group) -> None:
    result = CliRunner().invoke(
        cli, ["prepare", "toy_2025", "--data-dir", str(sample), "--no-download", "-o", "num_val_clips=2"]
    )
    assert result.exit_code == 0, result.output


def test_verify_rehashes_prepared_entries(sample: Path, cli: click.Group) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["prepare", "toy_2025", "--data-dir", str(sample), "--no-download"]).exit_code == 0
    )
    clean = runner.invoke(cli, ["verify", "toy_2025"])
    assert clean.exit_code == 0, clean.output
    assert clean.output.count("ok             prepared") == len(SESSIONS)
    entry = sorted(list_entries("toy_2025"), key=lambda e: e.session)[0]
    target = entry.path / "movie_train.npy"
    stat = target.stat()
    target.chmod(0o644)
    with open(target, "r+b") as handle:  # flip bytes, keep size and stamp
        handle.seek(-4, 2)
        handle.write(b"\x00\x00\xc0\x7f")
    import os

    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    damaged = runner.invoke(cli, ["verify", "toy_2025"])
    assert damaged.exit_code == 1
    assert (
        f"CORRUPT        prepared {entry.session}/" in damaged.output
        and "movie_train.npy: sha256" in damaged.output
    )
