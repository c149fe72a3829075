"""Install lines and pip extras: PEP 685 spelling everywhere, and an install line derived from the distribution."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner

from openretina_core.registry import extras
from openretina_core.registry.extras import install_command, normalize_extra
from openretina_core.registry.specs import DatasetInfo

REPO = Path(__file__).resolve().parents[1]
EXTRA_IN_TEXT = re.compile(r"openretina-core\[([^\]]+)\]")
# Everything the core, its docs and every plugin's card print.
PRINTED = [
    REPO / "README.md",
    *sorted((REPO / "docs").rglob("*.md")),
    *sorted((REPO / "openretina_core").rglob("*.py")),
    *sorted((REPO / "plugins").glob("*/README.md")),
    *sorted((REPO / "plugins" / "_template").rglob("*.md")),
]


def core_extras_in_pyproject() -> dict[str, list[str]]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def info(distribution: str | None, pip_extra: str | None = None) -> DatasetInfo:
    return DatasetInfo(
        id="x_2020", title="x", authors=("A",), year=2020, distribution=distribution, pip_extra=pip_extra
    )


@pytest.mark.parametrize(
    ("name", "normal"),
    [("karamanlis_2024", "karamanlis-2024"), ("Foo.__Bar", "foo-bar"), ("hdf5", "hdf5"), ("a-b", "a-b")],
)
def test_normalize_extra_follows_pep_685(name: str, normal: str) -> None:
    assert normalize_extra(name) == normal


def test_pyproject_spells_every_extra_normalised() -> None:
    """The metadata then reads the same whatever setuptools builds it (older ones kept underscores)."""
    for name in core_extras_in_pyproject():
        assert normalize_extra(name) == name, f"extra {name!r} should be spelled {normalize_extra(name)!r}"


def test_testing_extra_brings_pytest_for_the_contract() -> None:
    assert any(dep.startswith("pytest") for dep in core_extras_in_pyproject()["testing"])


@pytest.mark.parametrize("path", PRINTED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_printed_extra_exists_in_its_normalised_spelling(path: Path) -> None:
    known = set(core_extras_in_pyproject())
    for match in EXTRA_IN_TEXT.finditer(path.read_text()):
        if "{" in match.group(1) or "<" in match.group(1):
            continue  # a template in code or prose, e.g. [{extra}] or [<name>]
        for extra in match.group(1).split(","):
            assert extra.strip() in known, f"{path.name} prints {match.group(0)!r}: no such extra"


def test_install_line_of_a_published_plugin_is_the_core_extra() -> None:
    assert info("openretina-karamanlis-2024").pip_command == 'pip install "openretina-core[karamanlis-2024]"'
    assert install_command("openretina_Stimuli") == 'pip install "openretina-core[stimuli]"'


def test_install_line_of_a_third_party_plugin_is_its_distribution() -> None:
    # attrs stands in for any installed distribution the core has no extra for
    assert info("attrs", pip_extra="attrs").pip_command == "pip install attrs"
    assert info("toy-plugin").pip_command == "-", "registered in-process: nothing to install"
    assert info(None).pip_command == "-"


def test_without_the_core_metadata_the_plugins_own_extra_is_normalised(monkeypatch) -> None:
    monkeypatch.setattr(extras, "core_extras", lambda: None)
    assert install_command("openretina-x", "x_2020") == 'pip install "openretina-core[x-2020]"'
    assert install_command("openretina-x") == "pip install openretina-x"


def test_core_metadata_is_read_into_extras() -> None:
    extras.core_extras.cache_clear()
    found = extras.core_extras()
    assert found is not None and found["stimuli"] == ("openretina-stimuli",)
    assert all(normalize_extra(name) == name for name in found)


def test_cli_prints_normalised_extras(toy_plugins) -> None:
    from openretina_core.cli.commands import main

    listing = CliRunner().invoke(main, ["list"]).output
    assert 'pip install "openretina-core[karamanlis-2024]"' in listing and "karamanlis_2024]" not in listing
    card = CliRunner().invoke(main, ["info", "toy_2025"]).output
    assert "openretina-core[" not in card, "a plugin without an extra gets no fake extra"
