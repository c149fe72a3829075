"""Issue 16, classes 6 and 7: wrong arguments and misbehaving plugins give errors that name the argument or the
plugin (never numpy's or pluggy's messages from deep inside), and ``openretina-data plugins`` tells the truth."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from test_registry import GOOD_PLUGIN, make_fake_distribution

import openretina_core
from openretina_core import (
    BadArgumentError,
    MoviesTrainTestSplit,
    PluginError,
    ResponsesTrainTestSplit,
    multiple_movies_dataloaders,
)
from openretina_core.cli import main
from openretina_core.registry import DatasetInfo, DatasetSpec, UnknownDatasetError
from openretina_core.registry.manager import build_plugin_manager, reset_plugin_state

MOVIES = MoviesTrainTestSplit(train=np.zeros((1, 1000, 2, 2)), test=np.zeros((1, 50, 2, 2)))
RESPONSES = {"s": ResponsesTrainTestSplit(train=np.zeros((3, 1000)), test=np.zeros((3, 50)))}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": "abc"}, "seed: expected an integer >= 0, received 'abc'"),
        ({"seed": None}, "seed: expected an integer >= 0, received None"),
        ({"seed": 1.5}, "seed: expected an integer >= 0, received 1.5"),
        ({"num_val_clips": -1}, "num_val_clips: expected an integer >= 0, received -1"),
        ({"val_clip_indices": "ab"}, "val_clip_indices: expected a list of non-negative integers"),
        ({"val_clip_indices": [1, "x"]}, r"val_clip_indices\[...\]: expected an integer >= 0, received 'x'"),
        ({"val_clip_indices": {"s": 3}}, "val_clip_indices: expected a list of non-negative integers"),
        ({"batch_size": 0}, "batch_size: expected an integer >= 1, received 0"),
        ({"clip_length": "100"}, "clip_length: expected an integer >= 1, received '100'"),
    ],
)
def test_bad_builder_arguments_name_the_argument(options: dict, message: str) -> None:
    with pytest.raises(BadArgumentError, match=message):
        multiple_movies_dataloaders(RESPONSES, MOVIES, **{"clip_length": 100, **options})


def test_numpy_integers_are_fine() -> None:
    loaders = multiple_movies_dataloaders(
        RESPONSES, MOVIES, clip_length=np.int64(100), seed=np.int32(3), val_clip_indices=np.array([1, 2])
    )
    assert loaders.data_info["val_clip_indices"] == {"s": [1, 2]}


def test_a_spec_with_a_loader_that_cannot_be_called_is_refused_at_registration() -> None:
    info = DatasetInfo(id="x_2020", title="X", authors=("A",), year=2020)
    with pytest.raises(
        BadArgumentError, match="DatasetSpec.get_dataloaders: expected a callable, received 3"
    ):
        DatasetSpec(info=info, get_dataloaders=3)
    with pytest.raises(BadArgumentError, match="DatasetSpec.write_sample: expected a callable"):
        DatasetSpec(info=info, get_dataloaders=lambda **kw: {}, write_sample="write.py")


FAILING_HOOK = """
    import openretina_core

    @openretina_core.hookimpl
    def register_datasets(register):
        raise RuntimeError("the lab's server is down")
"""
DUPLICATE = GOOD_PLUGIN.replace("Fake", "Another fake")


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    for name in ("OPENRETINA_STRICT_PLUGINS", "OPENRETINA_PLUGINS", "OPENRETINA_BLOCK_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    yield site
    reset_plugin_state(None)
    for name in ("fake_failing", "fake_good", "fake_dup"):
        sys.modules.pop(name, None)


def test_strict_mode_names_the_plugin_that_failed_in_a_hook(fake_site, monkeypatch) -> None:
    make_fake_distribution(fake_site, "openretina-failing", "0.1", {"fake_failing": FAILING_HOOK})
    monkeypatch.setenv("OPENRETINA_STRICT_PLUGINS", "1")
    reset_plugin_state(build_plugin_manager())
    with pytest.raises(PluginError, match="plugin 'fake_failing': failed in register_datasets: RuntimeError"):
        openretina_core.list_datasets()


def test_plugins_command_lists_a_plugin_failing_in_a_hook_as_failed(fake_site) -> None:
    make_fake_distribution(fake_site, "openretina-failing", "0.1", {"fake_failing": FAILING_HOOK})
    make_fake_distribution(fake_site, "openretina-fake", "1.0", {"fake_good": GOOD_PLUGIN})
    with pytest.warns(UserWarning):
        reset_plugin_state(build_plugin_manager())
        result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if line.startswith("fake_failing"))
    assert "FAILED in register_datasets: RuntimeError: the lab's server is down" in line
    good = next(line for line in result.output.splitlines() if line.startswith("fake_good"))
    assert "FAILED" not in good
    records = json.loads(CliRunner().invoke(main, ["plugins", "--json"]).output)
    failing = next(r for r in records if r["name"] == "fake_failing")
    assert failing["hook_errors"] == {"register_datasets": "RuntimeError: the lab's server is down"}


def test_plugins_command_reports_duplicate_names_without_a_traceback(fake_site) -> None:
    make_fake_distribution(fake_site, "openretina-fake", "1.0", {"fake_good": GOOD_PLUGIN})
    make_fake_distribution(fake_site, "openretina-dup", "1.0", {"fake_dup": DUPLICATE})
    reset_plugin_state(build_plugin_manager())
    result = CliRunner().invoke(main, ["plugins"])  # click 8.2+: output holds stdout and stderr
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    text = result.output
    assert "ERROR: dataset name 'fake_2030' registered twice" in text
    assert "Traceback" not in text


def test_did_you_mean_lists_each_name_once(toy_plugins) -> None:
    with pytest.raises(UnknownDatasetError) as excinfo:
        openretina_core.get_dataloaders("hoefling_2023")
    line = next(line for line in str(excinfo.value).splitlines() if line.startswith("Did you mean"))
    names = [name.strip(" ?") for name in line.removeprefix("Did you mean:").split(",")]
    assert names and len(names) == len(set(names))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"seed": "abc"}, "seed: expected an integer >= 0, received 'abc'"),
        ({"seed": None}, "seed: expected an integer >= 0, received None"),
        ({"num_val_clips": -1}, "num_val_clips: expected an integer >= 0, received -1"),
        ({"val_clip_indices": "ab"}, "val_clip_indices: expected a list of non-negative integers"),
        ({"val_clip_indices": ["a", "b"]}, r"val_clip_indices\[...\]: expected an integer >= 0"),
    ],
)
def test_the_shared_validation_draw_names_a_bad_argument(arguments: dict, message: str) -> None:
    """Builders of plugins that draw validation clips themselves (Höfling) are checked here too."""
    from openretina_core.data import choose_validation_clips

    call = {"num_clips": 10, "num_val_clips": 2, "val_clip_indices": None, "seed": 0, "session": "s"}
    with pytest.raises(BadArgumentError, match=message):
        choose_validation_clips(**{**call, **arguments})
