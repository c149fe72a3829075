"""``openretina-data preview``: figures of one session from real files (``--data-dir``) or a plugin's sample
(``--sample``), the STA peak-lag summary printed, a clear message without matplotlib."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from openretina_core.cli.commands import main

KINDS = ("stimulus", "responses", "sta", "sta_lags")
PNG = b"\x89PNG\r\n\x1a\n"


def figures_listed(output: str) -> list[str]:
    return [line.removeprefix("figure: ") for line in output.splitlines() if line.startswith("figure: ")]


def test_preview_of_real_files_writes_and_lists_four_figures(toy_plugins, tmp_path) -> None:
    from toy_dataset_plugin import write_toy_sample

    data = write_toy_sample(tmp_path / "data").data_dir  # files on disk, loaded as a user's real files
    out = tmp_path / "figs"
    result = CliRunner().invoke(
        main, ["preview", "toy_2025", "--data-dir", str(data), "--session", "session_b", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    expected = [str(out / f"toy_2025_session_b_{kind}.png") for kind in KINDS]
    assert figures_listed(result.output) == expected
    assert all(Path(path).read_bytes()[:8] == PNG for path in expected)
    assert "STA peak-lag mode at lag" in result.output and "no offset flagged" in result.output


def test_preview_default_folder_is_in_the_working_directory(toy_plugins, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["preview", "toy_2025", "--sample", "-o", "clip_length=50"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "openretina-preview" / "toy_2025_session_a_sta.png").is_file()
    assert "ground truth lag" in result.output, "a sample's true filters mark the expected lag"


def test_preview_names_the_sessions_when_one_is_unknown(toy_plugins, tmp_path) -> None:
    result = CliRunner().invoke(
        main, ["preview", "toy_2025", "--sample", "--session", "nope", "--output", str(tmp_path)]
    )
    assert (
        result.exit_code != 0
        and "no session 'nope'" in result.output
        and "session_a, session_b" in result.output
    )
    unknown = CliRunner().invoke(main, ["preview", "toy_2099", "--sample"])
    assert unknown.exit_code != 0 and "toy_2025" in unknown.output


def test_preview_without_matplotlib_says_what_to_install(toy_plugins, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    result = CliRunner().invoke(main, ["preview", "toy_2025", "--sample", "--output", str(tmp_path)])
    assert result.exit_code != 0
    assert 'pip install "openretina-core[plots]"' in result.output and not list(tmp_path.glob("*.png"))


@pytest.mark.slow
def test_preview_hoefling_sample_has_green_and_uv_in_micrometres(tmp_path) -> None:
    pytest.importorskip("openretina_hoefling_2024")
    result = CliRunner().invoke(main, ["preview", "hoefling_2024", "--sample", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(figures_listed(result.output)) == 4 and "no offset flagged" in result.output
    assert all(Path(path).read_bytes()[:8] == PNG for path in figures_listed(result.output))


@pytest.mark.slow
def test_preview_goldin_sample_of_flashed_images_skips_the_lag_check(tmp_path) -> None:
    pytest.importorskip("openretina_goldin_2022")
    result = CliRunner().invoke(main, ["preview", "goldin_2022", "--sample", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    listed = figures_listed(result.output)
    assert [path.rsplit("_", 1)[-1] for path in listed] == ["stimulus.png", "responses.png", "sta.png"]
    assert "one frame per sample: no temporal lag to check" in result.output


def test_info_shows_the_cards_pixel_size_and_channels(toy_plugins) -> None:
    import json

    result = CliRunner().invoke(main, ["info", "toy_2025"])
    assert "pixel size: not stated (figures in pixels)" in result.output and "channels: -" in result.output
    card = json.loads(CliRunner().invoke(main, ["info", "toy_2025", "--json"]).output)
    assert (card["pixel_size"], card["pixel_unit"], card["channel_names"]) == (None, "µm", [])


def test_info_of_a_keyed_pixel_size() -> None:
    pytest.importorskip("openretina_hoefling_2024")
    result = CliRunner().invoke(main, ["info", "hoefling_2024"])
    assert 'pixel size: {"18x16": 50.0, "72x64": 12.5} µm' in result.output
    assert "channels: green, UV" in result.output
