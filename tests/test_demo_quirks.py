"""The demo explains its samples' deliberate quirks instead of warning about them, and writes its figures to a
folder in the working directory; warnings that are not a sample's quirk still reach the log."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from openretina_core.cli.commands import main
from openretina_core.cli.sample_notes import explain_sample_quirks

NORM_WARNING = "no stimulus normalisation statistics recorded; using mean 0.0 and std 1.0"


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_demo_explains_missing_normalisation_statistics_and_writes_into_the_working_directory(
    toy_plugins, tmp_path, monkeypatch, caplog
) -> None:
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.WARNING)
    result = CliRunner().invoke(main, ["demo", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    assert not any("normalisation statistics" in message for message in warnings_in(caplog))
    assert "toy_2025: note: this sample's stimuli come without normalisation statistics on purpose" in (
        result.output
    )
    out = tmp_path / "openretina-demo"
    assert (out / "toy_2025_sta.png").is_file() and (out / "toy_2025_stimulus.png").is_file()
    assert f"output: {out}" in result.output


def test_quirk_filter_holds_back_only_the_quirks_and_only_while_a_sample_loads(caplog) -> None:
    caplog.set_level(logging.WARNING)
    log = logging.getLogger("openretina_core.data.data_info")
    with explain_sample_quirks() as notes:
        log.warning(NORM_WARNING)
        log.warning("karamanlis_2024: skipping session S1: no file ending in 'x.mat' in /tmp/S1")
        log.warning("session a: dropping 2 neurons with NaN responses")
    assert warnings_in(caplog) == ["session a: dropping 2 neurons with NaN responses"]
    assert len(notes.notes) == 2 and "sample session S1 has no data file on purpose" in notes.notes[1]
    log.warning(NORM_WARNING)  # real data: the warning matters and is logged
    assert warnings_in(caplog)[-1] == NORM_WARNING


@pytest.mark.slow
def test_demo_explains_the_incomplete_karamanlis_session(tmp_path, caplog) -> None:
    pytest.importorskip("openretina_karamanlis_2024")
    caplog.set_level(logging.WARNING)
    result = CliRunner(env={"OPENRETINA_NO_PROGRESS": "1"}).invoke(
        main, ["demo", "--dataset", "karamanlis_2024", "--output", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert not any("skipping session" in message for message in warnings_in(caplog)), warnings_in(caplog)
    assert (
        "karamanlis_2024: note: sample session 20201120_252MEA_mouse_left_no_fixation_movie has no data "
        in (result.output)
    )
    assert "WARNING" not in result.output
    assert (tmp_path / "karamanlis_2024_sta_lags.png").is_file()
