"""The extras install, as a new user installs them: wheels built from this tree, a fresh venv, and the pip that
a fresh Python 3.11 venv brings (23.2, the oldest we support; it matches extras literally, see
docs/installing.md).

Only our own wheels are installed into the fresh venv. The heavy dependencies (torch, numpy, h5py, ...) are
already installed in the interpreter running the tests; the fresh venv sees them through a ``.pth`` file that
points at a folder of links to them (everything except our own distributions, pip and the venv's setuptools),
so pip counts them as satisfied and the test needs no index and no multi-GB download.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from openretina_core.registry.extras import normalize_extra

REPO = Path(__file__).resolve().parents[1]
OLDEST_PIP = "23.2.1"
PLUGINS = ("openretina-karamanlis-2024", "openretina-stimuli")

pytestmark = pytest.mark.slow


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, env=env)


def link_installed_dependencies(into: Path) -> None:
    """Links to every distribution installed here except ours, pip and setuptools' bootstrap files."""
    into.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    skip = ("openretina", "__editable__", "pip", "_distutils_hack", "distutils-precedence", "__pycache__")
    for entry in site.iterdir():
        if entry.name.startswith(skip) or entry.suffix == ".pth":
            continue
        (into / entry.name).symlink_to(entry)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    sources = [REPO, *(REPO / "plugins" / name for name in PLUGINS)]
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
        *sources,
    )
    assert built.returncode == 0, built.stderr
    return out


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("venv")
    venv = root / "venv"
    made = run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHON"))},
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PIP_CONFIG_FILE": os.devnull,  # no index, find-links or constraints from this machine's config
    }
    version = run(python, "-m", "pip", "--version", env=env).stdout.split()[1]
    if version != OLDEST_PIP:
        pinned = run(python, "-m", "pip", "install", "--quiet", f"pip=={OLDEST_PIP}", env=env)
        if pinned.returncode != 0:
            pytest.skip(f"fresh venv has pip {version} and pip {OLDEST_PIP} cannot be installed here")
    # the venv's own setuptools would shadow the (newer) one torch's metadata asks for
    removed = run(python, "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools", env=env)
    assert removed.returncode == 0, removed.stderr
    deps = root / "deps"
    link_installed_dependencies(deps)
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    (Path(purelib) / "zz_openretina_test_deps.pth").write_text(f"{deps}\n")
    return venv, env


def test_core_wheel_metadata_spells_extras_normalised(wheels: Path) -> None:
    core = next(wheels.glob("openretina_core-*.whl"))
    with zipfile.ZipFile(core) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    provided = [
        line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Provides-Extra:")
    ]
    assert {"karamanlis-2024", "stimuli", "testing", "all"} <= set(provided)
    assert all(normalize_extra(extra) == extra for extra in provided)


def test_oldest_pip_installs_the_documented_extras(
    wheels: Path, fresh_venv: tuple[Path, dict[str, str]]
) -> None:
    venv, env = fresh_venv
    python = venv / "bin" / "python"
    assert run(python, "-m", "pip", "--version", env=env).stdout.split()[1] == OLDEST_PIP
    find = ("--no-index", "--find-links", wheels)

    # the spelling this project printed before: pip 23.2 warns and installs no plugin (why we print hyphens)
    old = run(python, "-m", "pip", "install", "--dry-run", *find, "openretina-core[karamanlis_2024]", env=env)
    assert "does not provide the extra 'karamanlis_2024'" in old.stdout + old.stderr

    done = run(
        python, "-m", "pip", "install", *find, "openretina-core[karamanlis-2024,stimuli,testing]", env=env
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "does not provide the extra" not in output, output
    installed = run(python, "-m", "pip", "list", "--format=json", env=env)
    names = {row["name"].lower() for row in json.loads(installed.stdout)}
    assert {"openretina-core", *PLUGINS} <= names

    cli = venv / "bin" / "openretina-data"
    listing = run(cli, "list", "--json", env={**env, "OPENRETINA_STRICT_PLUGINS": "1"})
    assert listing.returncode == 0, listing.stderr
    assert "karamanlis_2024" in {row["id"] for row in json.loads(listing.stdout)["installed"]}
    card = run(cli, "info", "karamanlis_2024", env=env)
    assert 'install: pip install "openretina-core[karamanlis-2024]"' in card.stdout, card.stdout
