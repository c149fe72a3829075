"""Packaging: every plugin is a distribution with one entry point, and the core has an extra for each."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from openretina_core.registry.extras import normalize_extra
from openretina_core.registry.tables import KNOWN_DATASETS

REPO = Path(__file__).resolve().parents[1]
PLUGIN_DIRS = sorted(p for p in (REPO / "plugins").iterdir() if p.is_dir() and not p.name.startswith("_"))


def load(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def test_core_metadata() -> None:
    project = load(REPO / "pyproject.toml")["project"]
    assert project["name"] == "openretina-core" and project["requires-python"] == ">=3.10"
    deps = " ".join(project["dependencies"])
    for dep in ("torch", "numpy", "h5py", "attrs", "pluggy", "importlib-metadata"):
        assert dep in deps
    assert (REPO / "openretina_core" / "py.typed").exists()


@pytest.mark.parametrize("plugin_dir", PLUGIN_DIRS, ids=lambda p: p.name)
def test_plugin_is_a_boring_package(plugin_dir: Path) -> None:
    project = load(plugin_dir / "pyproject.toml")["project"]
    assert project["name"] == plugin_dir.name, "the folder is named after the distribution"
    package = project["name"].replace("-", "_")
    assert (plugin_dir / package / "__init__.py").exists()
    entry_points = project["entry-points"]["openretina"]
    assert list(entry_points.values()) == [package], "one entry point naming the package"
    assert any(dep.startswith("openretina-core") for dep in project["dependencies"])
    assert (plugin_dir / "README.md").exists()


@pytest.mark.parametrize("plugin_dir", [*PLUGIN_DIRS, REPO / "plugins" / "_template"], ids=lambda p: p.name)
def test_plugin_ships_its_type_hints(plugin_dir: Path) -> None:
    """``py.typed`` in the package and in the wheel (package-data), so a user's mypy reads the hints."""
    config = load(plugin_dir / "pyproject.toml")
    package = next(iter(config["project"]["entry-points"]["openretina"].values()))
    assert (plugin_dir / package / "py.typed").exists(), f"{package}/py.typed is missing"
    assert "py.typed" in config["tool"]["setuptools"].get("package-data", {}).get(package, [])


def test_every_published_dataset_has_an_extra_installing_its_plugin() -> None:
    extras = load(REPO / "pyproject.toml")["project"]["optional-dependencies"]
    distributions = {load(p / "pyproject.toml")["project"]["name"] for p in PLUGIN_DIRS}
    for name, distribution in KNOWN_DATASETS.items():
        assert extras[normalize_extra(name)] == [distribution], (
            "extras are spelled as PEP 685 normalises them"
        )
        assert distribution in distributions, f"{distribution} is not in plugins/"
    assert sorted(extras["all"]) == sorted(distributions)
