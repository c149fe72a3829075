"""The synthetic data carry signal (the response-weighted image average recovers the true spatial filters)
and the files come from the Hugging Face folder through the core's download machinery."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from openretina_goldin_2022 import INFO, get_goldin_dataloaders, write_sample

from openretina_core.data import filter_correlation, spike_triggered_average

# Measured over seeds 0-3 (one epoch of the 960 train images of each session): mean correlation per session
# 0.68 (mouse, 4-pixel centre sigma) and 0.76 (axolotl, 6 pixels), single cells >= 0.64 and >= 0.72; the mean
# correlation with another cell's filter is within +-0.04. The tolerances leave a margin of >= 0.08.
MIN_MEAN_CORRELATION = 0.6
MIN_CELL_CORRELATION = 0.55


def response_weighted_average(loader) -> np.ndarray:
    """``sum_i r_i x_i / sum_i r_i - mean_i x_i`` per cell over one epoch of batches: ``(cells, H, W)``."""
    weighted = total = mean_image = None
    count = 0
    for inputs, targets in loader:
        x = inputs[:, 0, 0].double().reshape(inputs.shape[0], -1)  # (B, H*W)
        r = targets[:, 0].double()  # (B, cells)
        weighted = r.T @ x if weighted is None else weighted + r.T @ x
        total = r.sum(0) if total is None else total + r.sum(0)
        mean_image = x.sum(0) if mean_image is None else mean_image + x.sum(0)
        count += x.shape[0]
    assert weighted is not None and total is not None and mean_image is not None
    estimate = weighted / total[:, None] - mean_image[None] / count
    return estimate.reshape(-1, *inputs.shape[-2:]).numpy()


@pytest.mark.parametrize("species", ["mouse", "axolotl"])
def test_response_weighted_average_recovers_the_spatial_filters(tmp_path: Path, species: str) -> None:
    sample = write_sample(tmp_path, seed=0, species=species)
    loaders = get_goldin_dataloaders(data_dir=sample.data_dir, species=species)
    assert sorted(sample.filters) == sorted(loaders["train"])
    for session, truth in sample.filters.items():
        estimate = response_weighted_average(loaders["train"][session])
        correlation = filter_correlation(estimate, truth)
        assert correlation.mean() >= MIN_MEAN_CORRELATION, (session, correlation)
        assert correlation.min() >= MIN_CELL_CORRELATION, (session, correlation)
        shuffled = filter_correlation(estimate, np.roll(truth, 1, axis=0))
        assert shuffled.mean() < correlation.mean() - 0.5, (session, shuffled)
        # The core's spike-triggered average with a filter of one image is the same estimate (the demo uses it).
        sta = spike_triggered_average(loaders["train"][session], filter_length=1)
        np.testing.assert_allclose(filter_correlation(sta, truth), correlation, atol=0.05)


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A local server holding the sample's files under the card's Hugging Face paths."""
    from openretina_core.testing import LocalFileServer

    sample = write_sample(tmp_path / "source", seed=4, n_train=700)
    for name in ("OPENRETINA_MIRROR_URL", "OPENRETINA_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENRETINA_NO_PROGRESS", "1")
    monkeypatch.setenv("OPENRETINA_DOWNLOAD_RETRIES", "1")
    with LocalFileServer() as server:
        paths = {}
        for remote in INFO.files:
            path = urlsplit(remote.urls[0]).path
            server.add_file(path, (Path(sample.data_dir) / remote.relative_path).read_bytes())
            paths[remote.group] = path
        monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
        yield server, paths, tmp_path / "cache" / "goldin_2022"


def test_download_fetches_the_species_files_once(served) -> None:
    server, paths, cache = served
    with pytest.raises(FileNotFoundError, match="download=True"):
        get_goldin_dataloaders(batch_size=16)  # download=False is the default
    loaders = get_goldin_dataloaders(batch_size=16, download=True, num_val_images=100)
    again = get_goldin_dataloaders(batch_size=16, download=True, num_val_images=100)
    assert server.count(paths["mouse"]) == 1 and server.count(paths["axolotl"]) == 0
    assert sorted(p.name for p in cache.glob("*.h5")) == ["mouse.h5"]
    for result in (loaders, again):
        inputs, targets = next(iter(result["train"]["mouse"]))
        assert tuple(inputs.shape) == (16, 1, 1, 108, 108) and tuple(targets.shape) == (16, 1, 40)
    axolotl = get_goldin_dataloaders(download=True, species="axolotl", num_val_images=100)
    assert list(axolotl["train"]) == ["axolotl"] and server.count(paths["axolotl"]) == 1


def test_a_failed_download_says_how_to_fetch_the_folder(served) -> None:
    server, paths, _ = served
    server.fail(paths["mouse"], times=5, status=404)
    with pytest.raises(ConnectionError, match="not verified") as excinfo:
        get_goldin_dataloaders(download=True)
    assert "marre_lab/goldin_2022" in str(excinfo.value) and "data_dir=" in str(excinfo.value)
    assert "404" in str(excinfo.value)
