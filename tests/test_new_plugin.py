"""``openretina-data new-plugin NAME``: names checked, nothing overwritten, and a package written that is complete,
lint-clean and type-clean for any valid name (the end-to-end install is in test_new_plugin_e2e.py)."""

from __future__ import annotations

import ast
import datetime
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

import openretina_core
from openretina_core.cli import new_plugin
from openretina_core.cli.commands import main
from openretina_core.cli.new_plugin import TOKEN, plugin_names, rendered_files, write_plugin
from openretina_core.registry.errors import BadArgumentError

REPO = Path(__file__).resolve().parents[1]
RENDERED_TEMPLATE = REPO / "plugins" / "_template"  # the template rendered for this name, kept in the repo
TEMPLATE_NAME = "my_lab_2025"
# What a checkout or an install of plugins/_template leaves beside the tracked files.
BUILD_LEFTOVERS = ("build", "__pycache__", ".egg-info", ".mypy_cache", ".ruff_cache", ".pytest_cache")
SHORTEST, LONGEST = "ab", "a_very_long_laboratory_name_2025_abcdef"  # 2 and 40 characters

valid_names = st.from_regex(r"[a-z][a-z0-9]{0,8}(_[a-z0-9]{1,8}){0,3}", fullmatch=True)


def expected_files(package: str, dataset_id: str) -> set[Path]:
    return {
        Path("pyproject.toml"),
        Path("README.md"),
        Path(package, "__init__.py"),
        Path(package, "constants.py"),
        Path(package, "dataset.py"),
        Path(package, "py.typed"),
        Path("tests", f"test_{dataset_id}.py"),
    }


def new(*args: str) -> Result:
    return CliRunner().invoke(main, ["new-plugin", *args])


def test_names_are_derived_from_the_registry_name() -> None:
    names = plugin_names("smith_2025")
    assert (names.distribution, names.package, names.lab, names.year) == (
        "openretina-smith-2025",
        "openretina_smith_2025",
        "Smith",
        2025,
    )
    assert plugin_names("my_lab_2025").lab == "My Lab"
    assert plugin_names("retina3").year == datetime.datetime.now(datetime.timezone.utc).year


@pytest.mark.parametrize(
    "name",
    [
        "Smith_2025",
        "smith-2025",
        "2025_smith",
        "smith__2025",
        "_smith",
        "smith_",
        "",
        "smith 2025",
        "smíth",
        "a" * 41,
    ],
)
def test_invalid_names_are_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    result = new(name, "--dir", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "Invalid value for NAME" in result.output and "lowercase identifier" in result.output
    assert repr(name) in result.output, "the message repeats what was received"
    assert not any(tmp_path.iterdir())
    with pytest.raises(BadArgumentError):
        plugin_names(name)


def test_a_published_dataset_name_is_refused(tmp_path: Path) -> None:
    result = new("karamanlis_2024", "--dir", str(tmp_path))
    assert result.exit_code == 2
    assert "openretina-karamanlis-2024" in result.output and "choose another" in result.output
    assert not any(tmp_path.iterdir())


def test_an_installed_dataset_name_is_refused(toy_plugins, tmp_path: Path) -> None:
    result = new("toy_2025", "--dir", str(tmp_path))
    assert result.exit_code == 2
    assert "registered already" in result.output and "openretina-data info toy_2025" in result.output
    assert not any(tmp_path.iterdir())


def test_writes_the_package_into_the_current_folder_and_prints_next_steps(
    fresh_plugins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = new("smith_2025")
    assert result.exit_code == 0, result.output
    target = tmp_path / "openretina-smith-2025"
    written = {p.relative_to(target) for p in target.rglob("*") if p.is_file()}
    assert written == expected_files("openretina_smith_2025", "smith_2025")
    assert [p.name for p in tmp_path.iterdir()] == [target.name], "no staging folder is left behind"
    for step in (f"cd {target}", 'pip install -e ".[test]"', "pytest", "openretina-data info smith_2025"):
        assert step in result.output
    assert "openretina_smith_2025/constants.py" in result.output and "EDIT" in result.output


class _FailingPlugin:
    @openretina_core.hookimpl
    def register_datasets(self, register: object) -> None:
        raise RuntimeError("the lab's server is down")


def test_a_broken_plugin_does_not_stop_a_new_one_being_written(
    fresh_plugins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENRETINA_STRICT_PLUGINS", "1")  # listing raises the hook's failure
    fresh_plugins.manager.register(_FailingPlugin(), name="failing")
    result = new("smith_2025", "--dir", str(tmp_path / "new" / "folder"))
    assert result.exit_code == 0, result.output
    assert "warning: could not read every installed plugin" in result.output and "failing" in result.output
    assert (tmp_path / "new" / "folder" / "openretina-smith-2025" / "pyproject.toml").is_file()


def test_an_existing_folder_is_never_overwritten(fresh_plugins, tmp_path: Path) -> None:
    target = tmp_path / "openretina-smith-2025"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    result = new("smith_2025", "--dir", str(tmp_path))
    assert result.exit_code == 1
    assert f"{target} exists already; nothing was written" in result.output
    assert [p.name for p in target.iterdir()] == ["mine.txt"] and (
        target / "mine.txt"
    ).read_text() == "keep me"
    empty = tmp_path / "sub" / "openretina-smith-2025"
    empty.mkdir(parents=True)
    assert new("smith_2025", "--dir", str(tmp_path / "sub")).exit_code == 1, "an empty folder is refused too"


def test_a_failed_write_leaves_no_half_written_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = plugin_names("smith_2025")
    # "a" is written as a file, then needed as a folder: the second write fails part way through
    monkeypatch.setattr(new_plugin, "rendered_files", lambda _: {Path("a"): "x", Path("a", "b"): "y"})
    with pytest.raises(OSError):
        write_plugin(names, tmp_path)
    assert not any(tmp_path.iterdir())


@settings(max_examples=60, deadline=None)
@given(name=valid_names)
def test_every_valid_name_renders_a_complete_package(name: str) -> None:
    """No token left, Python that parses, a pyproject whose entry point maps NAME to the package, and names
    that normalise back to NAME (PEP 503 distribution, importable package)."""
    names = plugin_names(name)
    assert names.distribution.replace("-", "_") == names.package == f"openretina_{name}"
    files = rendered_files(names)
    assert set(files) == expected_files(names.package, name)
    for path, text in files.items():
        assert not TOKEN.search(text) and not TOKEN.search(str(path)), f"{path} keeps a template token"
        if path.suffix == ".py":
            ast.parse(text, filename=str(path))
    project = tomllib.loads(files[Path("pyproject.toml")])
    assert project["project"]["name"] == names.distribution
    assert project["project"]["entry-points"]["openretina"] == {name: names.package}
    assert project["tool"]["setuptools"]["package-data"][names.package] == ["py.typed"]
    assert f'dataset_id = "{name}"' in files[Path("tests", f"test_{name}.py")]


def test_the_card_sets_every_field_an_author_fills() -> None:
    """Every DatasetInfo field but those the registry fills (distribution, version) is written out in the
    card, so an author sees each one; and every RemoteFile field in the file table."""
    from attrs import fields

    from openretina_core.registry.specs import DatasetInfo, RemoteFile

    card = ast.parse(
        rendered_files(plugin_names("smith_2025"))[Path("openretina_smith_2025", "constants.py")]
    )
    calls = {
        node.func.id: node
        for node in ast.walk(card)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    info_keywords = {k.arg for k in calls["DatasetInfo"].keywords}
    assert info_keywords == {f.name for f in fields(DatasetInfo)} - {"distribution", "version"}
    remote_keywords = {k.arg for k in calls["RemoteFile"].keywords} | {"relative_path"}  # given positionally
    assert remote_keywords == {f.name for f in fields(RemoteFile)}


def test_the_repository_copy_is_the_rendered_template() -> None:
    """plugins/_template is what new-plugin writes for my_lab_2025, byte for byte: one source of truth."""
    rendered = {path: text.encode() for path, text in rendered_files(plugin_names(TEMPLATE_NAME)).items()}
    kept = {
        path.relative_to(RENDERED_TEMPLATE): path.read_bytes()
        for path in RENDERED_TEMPLATE.rglob("*")
        if path.is_file()
        and not any(part.endswith(BUILD_LEFTOVERS) for part in path.relative_to(RENDERED_TEMPLATE).parts)
    }
    regenerate = (
        "plugins/_template is generated from openretina_core/cli/plugin_template: edit the template, then "
        "run python scripts/refresh-template.py"
    )
    assert set(kept) == set(rendered), regenerate
    changed = sorted(str(path) for path in rendered if kept[path] != rendered[path])
    assert not changed, f"{changed} differ. {regenerate}"


def ruff(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ruff", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("name", [SHORTEST, LONGEST])
def test_written_package_is_ruff_clean(fresh_plugins, tmp_path: Path, name: str) -> None:
    """Under this project's rules and under ruff's defaults (the author's own project), for the shortest and
    the longest names (line lengths and import order must not depend on the name)."""
    target = write_plugin(plugin_names(name), tmp_path)
    for config in (["--config", REPO / "pyproject.toml"], ["--isolated"]):
        checked = ruff("check", "--no-cache", *config, target)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        formatted = ruff("format", "--no-cache", "--check", "--diff", *config, target)
        assert formatted.returncode == 0, formatted.stdout + formatted.stderr


@pytest.mark.slow
def test_written_package_is_mypy_clean(tmp_path: Path) -> None:
    """With this project's mypy settings, as scripts/test.sh checks the plugins; errors in the core's own
    modules are the core's tests' business (``--follow-imports=silent``)."""
    target = write_plugin(plugin_names(LONGEST), tmp_path)
    package = target / plugin_names(LONGEST).package
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", str(package), str(target / "tests")],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,  # the project's [tool.mypy] settings and its warm cache
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues found in 4 source files" in checked.stdout
