"""The synthetic data carry signal (an STA recovers the true filters) and the seed page's call works."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from openretina_maheswaranathan_2023 import get_maheswaranathan_dataloaders, write_sample
from openretina_maheswaranathan_2023.constants import HF_ARCHIVE_URL

from openretina_core.data import filter_correlation, spike_triggered_average
from openretina_core.registry import SyntheticSample
from openretina_core.testing import zip_folder

# Measured over seeds 0-2 (one epoch of train batches = 60 of 80 clips): mean correlation per session 0.72-0.76
# for both combinations below, single cells >= 0.69; against another cell's filter |mean| <= 0.1. The
# tolerances leave a margin of ~0.12-0.19.
MIN_MEAN_CORRELATION = 0.6
MIN_CELL_CORRELATION = 0.5


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSample:
    return write_sample(tmp_path_factory.mktemp("maheswaranathan_sta"), seed=0)


@pytest.mark.parametrize(
    ("stim_type", "response_type"),
    [("naturalscene", "firing_rate_10ms"), ("whitenoise", "binned")],
)
def test_sta_of_train_batches_recovers_true_filters(
    sample: SyntheticSample, stim_type: str, response_type: str
) -> None:
    loaders = get_maheswaranathan_dataloaders(
        batch_size=16,
        download=False,
        data_dir=sample.data_dir,
        stim_type=stim_type,
        response_type=response_type,
    )
    for session, truth in sample.filters.items():
        estimate = spike_triggered_average(loaders["train"][session], filter_length=truth.shape[2])
        correlation = filter_correlation(estimate, truth)
        assert correlation.mean() >= MIN_MEAN_CORRELATION, (session, correlation)
        assert correlation.min() >= MIN_CELL_CORRELATION, (session, correlation)
        # The recovered filter is not an artefact of the stimulus: it belongs to its own cell.
        shuffled = filter_correlation(estimate, np.roll(truth, 1, axis=0))
        assert shuffled.mean() < correlation.mean() - 0.3, (session, shuffled)


def zipped_sample(sample: SyntheticSample) -> bytes:
    """The sample packed like the published archive: one top-level ``neural_code_data/`` folder."""
    return zip_folder(sample.data_dir, top="neural_code_data")


def test_seed_page_call_downloads_from_the_published_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``get_maheswaranathan_dataloaders(batch_size=32, download=True)`` as the seed page writes it.

    The Hugging Face host is redirected (``OPENRETINA_HF_URL``) to a local server that serves the archive under
    its real path; a second call uses the cache without a request.
    """
    from urllib.parse import urlsplit

    from openretina_core.testing import LocalFileServer

    sample = write_sample(tmp_path / "source", seed=4, n_sessions=1, n_train=4500, n_test=300)
    archive_path = urlsplit(HF_ARCHIVE_URL).path
    for name in ("OPENRETINA_MIRROR_URL", "OPENRETINA_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENRETINA_NO_PROGRESS", "1")
    with LocalFileServer() as server:
        server.add_file(archive_path, zipped_sample(sample))
        monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
        dataloaders = get_maheswaranathan_dataloaders(batch_size=32, download=True)
        again = get_maheswaranathan_dataloaders(batch_size=32, download=True)
        assert server.count(archive_path) == 1
    extracted = tmp_path / "cache" / "maheswaranathan_2023" / "neural_code_data" / "ganglion_cell_data"
    assert (extracted / "15-10-07" / "naturalscene.h5").is_file()
    for loaders in (dataloaders, again):
        inputs, targets = next(iter(loaders["train"]["15-10-07"]))
        assert tuple(inputs.shape) == (32, 1, 50, 50, 50) and tuple(targets.shape) == (32, 50, 9)
        assert set(loaders) == {"train", "validation", "test"}
