"""``openretina-data create-data DIR``: writes the layout through the registry, and the loaders read it back.

The CLI runs in a subprocess, as a user runs it (plugins' tests import no CLI module of the core).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

import openretina_core as orc

CLI = "import sys; from openretina_core.cli import main; sys.exit(main())"


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )


def test_create_data_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "example"
    result = run_cli(
        *["create-data", str(out), "--num-colors", "2", "--num-stimuli", "3", "--num-sessions", "3"],
        *["--clip-length", "20", "--seed", "4"],
    )
    assert result.returncode == 0, result.stderr
    assert "wrote stimuli/random_noise_0.npy" in result.stdout and "wrote session_2.hdf5" in result.stdout
    assert f'orc.get_dataloaders("hdf5", data_dir="{out}"' in result.stdout
    assert "test_names=['random_noise_1', 'random_noise_2']" in result.stdout
    for i in range(3):
        stimulus = np.load(out / "stimuli" / f"random_noise_{i}.npy")
        assert stimulus.shape == (2, (70 + i) * 20, 16, 8) and stimulus.dtype == np.float64
    for k in range(3):
        with h5py.File(out / f"session_{k}.hdf5", "r") as h5:
            expected = [f"responses_random_noise_{i}" for i in range(3)]
            assert sorted(h5) == [*expected, "session_info"]
            n = h5["session_info/celltypes"].shape[0]
            assert h5["responses_random_noise_1"].shape == (n, 71 * 20) and 10 <= n < 30
    loaders = orc.get_dataloaders(
        "hdf5",
        data_dir=out,
        test_names=["random_noise_1", "random_noise_2"],
        clip_length=20,
        batch_size=8,
    )
    assert set(loaders) == {"train", "validation", "random_noise_1", "random_noise_2"}
    assert sorted(loaders["train"]) == ["session_0", "session_1", "session_2"]
    inputs, targets = next(iter(loaders["train"]["session_1"]))
    assert tuple(inputs.shape) == (8, 2, 50, 16, 8) and targets.shape[:2] == (8, 50)
    assert loaders.data_info["movie_copies_made"] == 0


def test_create_data_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("lab notes")
    result = run_cli("create-data", str(tmp_path), "--num-stimuli", "1", "--clip-length", "5")
    assert result.returncode != 0 and "is not empty" in result.stderr and "--force" in result.stderr
    forced = run_cli("create-data", str(tmp_path), "--force", "--num-stimuli", "1", "--clip-length", "5")
    assert forced.returncode == 0, forced.stderr
    assert "notes.txt" not in forced.stdout and (tmp_path / "session_0.hdf5").exists()


def test_create_data_without_the_plugin_says_what_to_install(tmp_path: Path) -> None:
    result = run_cli("create-data", str(tmp_path / "x"), OPENRETINA_BLOCK_PLUGINS="hdf5")
    assert result.returncode != 0
    assert 'pip install "openretina-core[hdf5]"' in result.stderr and "openretina-hdf5" in result.stderr
    assert not (tmp_path / "x").exists()


def test_create_data_help_imports_neither_torch_nor_h5py() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from openretina_core.cli import main\n"
        "result = CliRunner().invoke(main, ['create-data', '--help'])\n"
        "assert result.exit_code == 0 and 'DIRECTORY' in result.output, result.output\n"
        "print(sorted(m for m in ('h5py', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
