"""``new-plugin`` end to end, as a lab uses it: the core's wheel built from this tree and installed into a fresh
venv, ``openretina-data new-plugin`` run from that install (so the template must be in the wheel), the package
it writes installed editable with its test extra, its contract tests run with that venv's pytest, and the new
name listed by that venv's ``openretina-data list``.

Only our own code is installed into the venv. The heavy dependencies (torch, numpy, h5py, pytest, setuptools)
are those already installed in the interpreter running the tests: the venv sees them through a ``.pth`` file
pointing at a folder of links to them (every distribution but ours and pip), so pip counts them as satisfied
and the test needs no index and no download. The core is never visible from this source tree there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NAME = "e2e_lab_2026"
DISTRIBUTION = "openretina-e2e-lab-2026"

pytestmark = pytest.mark.slow


def run(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, env=env, cwd=cwd
    )


def link_installed_dependencies(into: Path) -> None:
    """Links to every distribution installed here except ours and pip (and no ``.pth`` hooks)."""
    into.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    skip = ("openretina", "__editable__", "pip", "__pycache__")
    for entry in site.iterdir():
        if not entry.name.startswith(skip) and entry.suffix != ".pth":
            (into / entry.name).symlink_to(entry)


@pytest.fixture(scope="module")
def core_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The core's wheel, built from a clean copy of its sources (no stale build/ folder can leak into it)."""
    source = tmp_path_factory.mktemp("core_source")
    shutil.copytree(
        REPO / "openretina_core", source / "openretina_core", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheels")
    built = run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        out,
        source,
    )
    assert built.returncode == 0, built.stderr
    return next(out.glob("openretina_core-*.whl"))


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("venv")
    venv = root / "venv"
    made = run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv)
    assert made.returncode == 0, made.stderr
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHON"))},
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PIP_CONFIG_FILE": os.devnull,  # no index, find-links or constraints from this machine's config
        "OPENRETINA_STRICT_PLUGINS": "1",  # a plugin that fails to load fails the commands below
    }
    python = venv / "bin" / "python"
    # the venv's own (older) setuptools would shadow the linked one that builds the plugin
    removed = run(python, "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools", env=env)
    assert removed.returncode == 0, removed.stderr
    deps = root / "deps"
    link_installed_dependencies(deps)
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    (Path(purelib) / "zz_openretina_test_deps.pth").write_text(f"{deps}\n")
    return venv, env


def test_the_wheel_ships_every_template_file(core_wheel: Path) -> None:
    template = REPO / "openretina_core" / "cli" / "plugin_template"
    expected = {
        f"openretina_core/cli/plugin_template/{p.relative_to(template).as_posix()}"
        for p in template.rglob("*.tmpl")
    }
    with zipfile.ZipFile(core_wheel) as archive:
        assert expected <= set(archive.namelist()), expected - set(archive.namelist())


def test_a_new_plugin_installs_passes_its_contract_and_is_listed(
    core_wheel: Path, fresh_venv: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    venv, env = fresh_venv
    python, cli = venv / "bin" / "python", venv / "bin" / "openretina-data"
    pip = (python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", core_wheel.parent)

    installed = run(*pip, "openretina-core[testing]", env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    code = "import openretina_core.cli.new_plugin as m; print(m.template_root())"
    where = run(python, "-c", code, env=env, cwd=tmp_path)  # not from this tree (-c puts the cwd first)
    assert where.stdout.strip().startswith(str(venv)), f"the template is read from the wheel: {where.stdout}"

    written = run(cli, "new-plugin", NAME, env=env, cwd=tmp_path)
    assert written.returncode == 0, written.stdout + written.stderr
    plugin = tmp_path / DISTRIBUTION
    assert 'pip install -e ".[test]"' in written.stdout

    # what the printed next steps say: an editable install with the test extra, then pytest in the folder
    editable = run(*pip, "--no-build-isolation", "-e", f"{plugin}[test]", env=env)
    assert editable.returncode == 0, editable.stdout + editable.stderr
    tested = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", env=env, cwd=plugin)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    passed = re.search(r"(\d+) passed", tested.stdout)
    assert passed and int(passed.group(1)) >= 6 and "failed" not in tested.stdout, tested.stdout

    listing = run(cli, "list", "--json", env=env, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    rows = {row["id"]: row for row in json.loads(listing.stdout)["installed"]}
    assert NAME in rows, listing.stdout
    card = run(cli, "info", NAME, env=env, cwd=tmp_path)
    assert card.returncode == 0, card.stderr
    assert f"install: pip install {DISTRIBUTION}" in card.stdout, card.stdout
