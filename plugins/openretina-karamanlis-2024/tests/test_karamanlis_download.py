"""Fetching sessions through the core's download machinery: one species' zips from a fake Hugging Face.

The first test runs the openretina page's example verbatim against the synthetic sample served as the mirror.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openretina_karamanlis_2024 import get_karamanlis_dataloaders
from openretina_karamanlis_2024.sample import MARMOSET, MOUSE, write_sample

from openretina_core.testing import LocalFileServer, zip_folder

HF = "/datasets/open-retina/open-retina/resolve/main/gollisch_lab/karamanlis_2024/sessions"
SMALL = {"blocks": 2, "frames_per_block": 120, "frozen_frames": 40, "trials": 2, "image_shape": (80, 110)}
LOADER = {"batch_size": 4, "clip_length": 10, "num_val_clips": 2, "train_chunk_size": 10}


@pytest.fixture
def hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalFileServer]:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENRETINA_NO_PROGRESS", "1")
    monkeypatch.setenv("OPENRETINA_RETRY_BACKOFF_S", "0")
    for name in ("OPENRETINA_OFFLINE", "OPENRETINA_MIRROR_URL"):
        monkeypatch.delenv(name, raising=False)
    with LocalFileServer() as server:
        monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
        yield server


def test_seed_page_example_runs_as_written(hosts: LocalFileServer, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "sample", seed=0)
    hosts.add_file(f"{HF}/{MOUSE}.zip", zip_folder(Path(sample.data_dir) / "sessions" / MOUSE))

    from openretina_karamanlis_2024 import get_karamanlis_dataloaders

    # Load the dataset
    dataloaders = get_karamanlis_dataloaders(
        batch_size=32,
        download=True,
    )

    inputs, targets = next(iter(dataloaders["train"][MOUSE]))
    assert tuple(inputs.shape) == (32, 1, 50, 60, 80) and tuple(targets.shape) == (32, 50, 8)


def test_downloads_only_the_requested_species_and_reloads_offline(
    hosts: LocalFileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = write_sample(tmp_path / "sample", seed=2, n_images=4, n_neurons=3, **SMALL)
    sessions = Path(sample.data_dir) / "sessions"
    hosts.add_file(f"{HF}/{MOUSE}.zip", zip_folder(sessions / MOUSE))
    hosts.add_file(f"{HF}/{MARMOSET}.zip", zip_folder(sessions / MARMOSET))
    loaders = get_karamanlis_dataloaders(download=True, species="mouse", **LOADER)
    assert list(loaders["train"]) == [MOUSE]
    assert hosts.count(f"{HF}/{MOUSE}.zip") == 1 and hosts.count(f"{HF}/{MARMOSET}.zip") == 0
    assert (tmp_path / "cache" / "karamanlis_2024" / "sessions" / MOUSE).is_dir()
    hosts.stop()
    monkeypatch.setenv("OPENRETINA_OFFLINE", "1")
    again = get_karamanlis_dataloaders(download=True, species="mouse", **LOADER)
    inputs, targets = next(iter(again["train"][MOUSE]))
    assert tuple(inputs.shape) == (4, 1, 10, 60, 80) and tuple(targets.shape) == (4, 10, 3)


def test_served_zip_has_the_published_members(tmp_path: Path) -> None:
    """``zip_folder`` writes the session folder's own entry first, like the mirror's session zips."""
    import io
    import zipfile

    sample = write_sample(tmp_path / "sample", seed=3, n_images=4, n_neurons=2, **SMALL)
    with zipfile.ZipFile(io.BytesIO(zip_folder(Path(sample.data_dir) / "sessions" / MOUSE))) as zf:
        names = zf.namelist()
    assert names == [f"{MOUSE}/", f"{MOUSE}/{MOUSE}_fixationmovie_data.mat"]
