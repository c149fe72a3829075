"""The CLI's face for a new user: ``--version``, ``list`` with stimuli in tables that fit the terminal, and
a core that needs neither pooch nor matplotlib (figures are the ``plots`` extra)."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
from click.testing import CliRunner

import openretina_core
from openretina_core.cli.commands import main
from openretina_core.cli.table import render_table
from openretina_core.registry.specs import StimulusSpec

REPO = Path(__file__).resolve().parents[1]


class Stimuli:
    @openretina_core.hookimpl
    def register_stimuli(self, register):
        register(
            StimulusSpec(
                "zeros",
                generate=lambda shape, seed=0: np.zeros(shape, np.float32),
                description="An all-zero movie, the baseline against which every other stimulus is compared.",
            )
        )


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert (
        result.exit_code == 0
        and result.output.strip() == f"openretina-data, version {openretina_core.__version__}"
    )


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_list_shows_stimuli_in_tables_that_fit_and_keep_words_whole(toy_plugins, columns: int) -> None:
    toy_plugins.manager.register(Stimuli(), name="stim-plugin")
    result = CliRunner(env={"COLUMNS": str(columns)}).invoke(main, ["list"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "pip install" not in line]  # commands stay whole
    assert max(len(line) for line in lines) <= columns
    words = result.output.split()
    for text in ("simulated multi-electrode array", "the baseline against which every other stimulus"):
        assert all(word in words for word in text.split()), f"a word of {text!r} was cut"
    assert "zeros" in words and "stim-plugin" in words
    assert 'pip install "openretina-core[karamanlis-2024]"' in result.output
    data = json.loads(CliRunner().invoke(main, ["list", "--json"]).output)
    assert data["stimuli"][0]["name"] == "zeros" and data["install"]["hoefling_2024"].endswith(
        '[hoefling-2024]"'
    )


def test_list_without_stimuli_says_what_to_install(fresh_plugins) -> None:
    result = CliRunner().invoke(main, ["list"])
    assert 'No stimulus generators installed (pip install "openretina-core[stimuli]")' in result.output


def test_render_table_wraps_the_widest_column_only_as_far_as_words_allow() -> None:
    table = render_table(["a", "b"], [["x", "one two three four"], ["yy", "z"]], width=12)
    assert table.splitlines() == ["a   b", "--  --------", "x   one two", "    three", "    four", "yy  z"]
    too_narrow = render_table(["h"], [["unbreakable-word"]], width=5)
    assert "unbreakable-word" in too_narrow.split(), "a word longer than the width is kept whole"


def test_demo_without_matplotlib_says_how_to_get_figures(toy_plugins, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    result = CliRunner().invoke(main, ["demo", "--output", str(tmp_path), "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    assert "toy_2025" in result.output and 'pip install "openretina-core[plots]"' in result.output
    assert not list(tmp_path.glob("*.png"))


def test_core_needs_neither_pooch_nor_matplotlib() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = " ".join(project["dependencies"])
    assert "pooch" not in deps and "matplotlib" not in deps
    assert project["optional-dependencies"]["plots"] == ["matplotlib>=3.7"]
    for path in sorted((REPO / "openretina_core").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "pooch" for n in names), f"{path.name} imports pooch"
        for node in tree.body:  # matplotlib only inside the functions that draw
            if isinstance(node, ast.Import | ast.ImportFrom):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                assert not (module or "").startswith("matplotlib"), (
                    f"{path.name} imports matplotlib at the top"
                )
