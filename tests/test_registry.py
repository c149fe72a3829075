"""Registry and plugin loading: lazy discovery, broken plugins, strict mode, allow/block lists, duplicates."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import openretina_core
from openretina_core.registry import tables as registry
from openretina_core.registry.manager import PluginLoadWarning, build_plugin_manager, reset_plugin_state
from openretina_core.registry.specs import DatasetSpec

REPO = Path(__file__).resolve().parents[1]


def make_fake_distribution(site: Path, dist: str, version: str, modules: dict[str, str]) -> None:
    """A real (if tiny) installed distribution: a .dist-info with entry points plus its modules."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(
        "[openretina]\n" + "".join(f"{name} = {name}\n" for name in modules)
    )
    for name, source in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(source))


GOOD_PLUGIN = """
    import openretina_core
    from openretina_core.registry.specs import DatasetInfo, DatasetSpec

    @openretina_core.hookimpl
    def register_datasets(register):
        info = DatasetInfo(id="fake_2030", title="Fake", authors=("A",), year=2030)
        register(DatasetSpec(info=info, get_dataloaders=lambda **kw: {"train": {}}))
"""
BROKEN_IMPORT = "raise ImportError('this plugin needs a missing library')\n"
MISSPELT_HOOK = """
    import openretina_core

    @openretina_core.hookimpl
    def register_datasetz(register):
        pass
"""


@pytest.fixture(autouse=True)
def lenient_plugin_loading(monkeypatch):
    """These tests check the default (lenient) behaviour; CI runs with strict mode switched on."""
    for name in ("OPENRETINA_STRICT_PLUGINS", "OPENRETINA_PLUGINS", "OPENRETINA_BLOCK_PLUGINS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    reset_plugin_state(None)
    for name in ("fake_good", "fake_broken", "fake_misspelt", "fake_dup"):
        sys.modules.pop(name, None)


def test_import_discovers_nothing_and_first_use_loads_entry_points(fake_site) -> None:
    make_fake_distribution(fake_site, "openretina-fake", "1.2.3", {"fake_good": GOOD_PLUGIN})
    code = textwrap.dedent(
        """
        import sys
        import openretina_core, openretina_core.registry.manager as p
        assert p._state is None and "fake_good" not in sys.modules, "discovery at import"
        names = openretina_core.list_datasets()
        info = openretina_core.dataset_info("fake_2030")
        print(names, info.distribution, info.version)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{fake_site}:{REPO}", "OPENRETINA_PLUGINS": "fake_good"},
        check=True,
    )
    assert "['fake_2030'] openretina-fake 1.2.3" in out.stdout


def test_broken_plugin_is_skipped_with_one_warning_and_recorded(fake_site) -> None:
    make_fake_distribution(fake_site, "openretina-fake", "1.0", {"fake_good": GOOD_PLUGIN})
    make_fake_distribution(fake_site, "openretina-broken", "0.1", {"fake_broken": BROKEN_IMPORT})
    with pytest.warns(PluginLoadWarning, match="'fake_broken'.*failed to load") as record:
        state = build_plugin_manager()
    assert len([w for w in record if issubclass(w.category, PluginLoadWarning)]) == 1
    reset_plugin_state(state)
    assert "fake_2030" in openretina_core.list_datasets()
    failures = state.failures()
    assert [f.name for f in failures] == ["fake_broken"] and "missing library" in str(failures[0].error)


def test_misspelt_hook_fails_check_pending(fake_site) -> None:
    make_fake_distribution(fake_site, "openretina-misspelt", "0.1", {"fake_misspelt": MISSPELT_HOOK})
    with pytest.warns(PluginLoadWarning, match="register_datasetz"):
        state = build_plugin_manager()
    assert state.failures()[0].name == "fake_misspelt"


def test_strict_mode_reraises(fake_site, monkeypatch) -> None:
    make_fake_distribution(fake_site, "openretina-broken", "0.1", {"fake_broken": BROKEN_IMPORT})
    monkeypatch.setenv("OPENRETINA_STRICT_PLUGINS", "1")
    with pytest.raises(RuntimeError, match="plugin 'fake_broken'.*failed to load"):
        build_plugin_manager()


def test_allow_and_block_lists(fake_site, monkeypatch) -> None:
    make_fake_distribution(fake_site, "openretina-fake", "1.0", {"fake_good": GOOD_PLUGIN})
    make_fake_distribution(fake_site, "openretina-broken", "0.1", {"fake_broken": BROKEN_IMPORT})
    monkeypatch.setenv("OPENRETINA_BLOCK_PLUGINS", "openretina-broken")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginLoadWarning)
        state = build_plugin_manager()
    assert [p.name for p in state.loaded if p.name.startswith("fake")] == ["fake_good"]
    monkeypatch.delenv("OPENRETINA_BLOCK_PLUGINS")
    monkeypatch.setenv("OPENRETINA_PLUGINS", "fake_broken")
    with pytest.warns(PluginLoadWarning):
        state = build_plugin_manager()
    assert [p.name for p in state.loaded] == ["fake_broken"]


class _Registers:
    def __init__(self, dataset_id: str) -> None:
        self.dataset_id = dataset_id

    @openretina_core.hookimpl
    def register_datasets(self, register):
        from openretina_core.registry.specs import DatasetInfo

        register(
            DatasetSpec(
                info=DatasetInfo(id=self.dataset_id, title="t", authors=("a",), year=1), get_dataloaders=dict
            )
        )


def test_duplicate_names_are_refused_naming_both(fresh_plugins) -> None:
    fresh_plugins.manager.register(_Registers("dup_2020"), name="first-dist")
    fresh_plugins.manager.register(_Registers("dup_2020"), name="second-dist")
    with pytest.raises(
        registry.DuplicateNameError, match="'dup_2020' registered twice: by first-dist and by second-dist"
    ):
        openretina_core.list_datasets()


def test_register_hook_failure_is_isolated(fresh_plugins) -> None:
    class Fails:
        @openretina_core.hookimpl
        def register_datasets(self, register):
            raise RuntimeError("boom")

    fresh_plugins.manager.register(Fails(), name="fails")
    fresh_plugins.manager.register(_Registers("fine_2020"), name="fine")
    with pytest.warns(PluginLoadWarning, match="boom"):
        assert openretina_core.list_datasets() == ["fine_2020"]


def test_unknown_names_list_known_and_print_pip_command(toy_plugins) -> None:
    with pytest.raises(registry.UnknownDatasetError) as excinfo:
        openretina_core.get_dataloaders("karamanlis_2024")
    message = str(excinfo.value)
    assert 'pip install "openretina-core[karamanlis-2024]"' in message and "toy_2025" in message
    with pytest.raises(registry.UnknownDatasetError, match="Did you mean: toy_2025"):
        openretina_core.dataset_info("toy_2052")


def test_toy_dataset_loads_by_name(toy_plugins, tmp_path) -> None:
    from toy_dataset_plugin import write_toy_sample

    sample = write_toy_sample(tmp_path)
    loaders = openretina_core.get_dataloaders("toy_2025", data_dir=sample.data_dir, batch_size=8)
    assert set(loaders) == {"train", "validation", "test"}
    inputs, targets = next(iter(loaders["train"]["session_a"]))
    assert inputs.shape == (8, 1, 50, 8, 10) and targets.shape == (8, 50, 4)
    assert openretina_core.dataset_info("toy_2025").distribution == "toy-plugin"


def test_stimulus_registry(fresh_plugins) -> None:
    import numpy as np

    from openretina_core.registry.specs import StimulusSpec

    class Stim:
        @openretina_core.hookimpl
        def register_stimuli(self, register):
            register(StimulusSpec("zeros", generate=lambda shape, seed=0: np.zeros(shape, np.float32)))

    fresh_plugins.manager.register(Stim(), name="stim")
    assert openretina_core.list_stimuli() == ["zeros"]
    assert openretina_core.get_stimulus("zeros", shape=(1, 2, 3, 4)).shape == (1, 2, 3, 4)
    with pytest.raises(registry.UnknownStimulusError, match="Did you mean: zeros"):
        openretina_core.get_stimulus("zero", shape=(1, 1, 1, 1))


@pytest.mark.slow
def test_real_template_plugin_installed_into_a_site_dir(tmp_path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(REPO / "plugins" / "_template"),
        ],
        check=True,
        capture_output=True,
    )
    code = textwrap.dedent(
        f"""
        import openretina_core
        from openretina_core.registry.tables import get_dataset_spec
        assert "my_lab_2025" in openretina_core.list_datasets()
        sample = get_dataset_spec("my_lab_2025").write_sample({str(tmp_path / "data")!r})
        loaders = openretina_core.get_dataloaders("my_lab_2025", data_dir=sample.data_dir, batch_size=4)
        x, y = next(iter(loaders["train"]["session_1"]))
        info = openretina_core.dataset_info("my_lab_2025")
        print(tuple(x.shape), tuple(y.shape), info.distribution, "|", info.pip_command)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{site}:{REPO}", "OPENRETINA_PLUGINS": "my_lab_2025"},
        check=True,
    )
    assert "(4, 1, 50, 10, 10) (4, 50, 3) openretina-my-lab-2025" in out.stdout
    # a third-party plugin is installed by its own distribution, not through an extra the core does not have
    assert "| pip install openretina-my-lab-2025" in out.stdout


def test_hook_register_datasets_records_origin(fresh_plugins) -> None:
    fresh_plugins.manager.register(_Registers("origin_2020"), name="origin-plugin")
    info = openretina_core.dataset_info("origin_2020")
    assert info.distribution == "origin-plugin" and info.id == "origin_2020"


def test_hook_register_stimuli_records_origin(fresh_plugins) -> None:
    import numpy as np

    from openretina_core.registry.specs import StimulusSpec

    class Stim:
        @openretina_core.hookimpl
        def register_stimuli(self, register):
            register(StimulusSpec("ones", generate=lambda shape, seed=0: np.ones(shape, np.float32)))

    fresh_plugins.manager.register(Stim(), name="stim-dist")
    assert registry.get_stimulus_spec("ones").distribution == "stim-dist"
