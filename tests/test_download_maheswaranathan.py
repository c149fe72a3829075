"""The Maheswaranathan 2023 archive through the download machinery: HF mirror, fallback host, extraction.

The first test uses a RemoteFile shaped like the plugin's (so it needs no plugin); the second, skipped when the
plugin is not installed, serves the plugin's synthetic sample as ``neural_code_data.zip`` from a fake Hugging
Face and loads it with ``download=True``, then again with the server gone and the offline switch on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from openretina_core.files.download import fetch_dataset
from openretina_core.registry.specs import DatasetInfo, RemoteFile
from openretina_core.testing.http import LocalFileServer, zip_folder

HF_PATH = (
    "/datasets/open-retina/open-retina/resolve/main/baccus_lab/maheswaranathan_2023/neural_code_data.zip"
)
SDR_PATH = "/file/druid:rk663dm5577/neural_code_data.zip"


@pytest.fixture
def hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalFileServer]:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENRETINA_RETRY_BACKOFF_S", "0")
    monkeypatch.setenv("OPENRETINA_DOWNLOAD_RETRIES", "2")
    for name in ("OPENRETINA_OFFLINE", "OPENRETINA_MIRROR_URL"):
        monkeypatch.delenv(name, raising=False)
    with LocalFileServer() as server:
        monkeypatch.setenv("OPENRETINA_HF_URL", server.url)
        monkeypatch.setenv("OPENRETINA_SDR_URL", server.url)
        yield server


def test_archive_falls_back_from_hugging_face_to_sdr_and_unzips_without_nesting(
    hosts: LocalFileServer, tmp_path: Path
) -> None:
    source = tmp_path / "src/neural_code_data/ganglion_cell_data/15-10-07"
    source.mkdir(parents=True)
    (source / "naturalscene.h5").write_bytes(b"\x89HDF\r\n" + bytes(1000))
    archive = zip_folder(tmp_path / "src/neural_code_data")
    hosts.add_file(HF_PATH, archive)
    hosts.fail(HF_PATH, times=5, status=502)  # Hugging Face is down
    hosts.add_file(SDR_PATH, archive)
    remote = RemoteFile(
        "neural_code_data.zip",
        urls=("https://huggingface.co" + HF_PATH, "https://stacks.stanford.edu" + SDR_PATH),
        extract=True,
    )
    info = DatasetInfo(id="maheswaranathan_2023", title="t", authors=("A",), year=2023, files=(remote,))
    root = fetch_dataset(info, download=True)
    assert (root / "neural_code_data/ganglion_cell_data/15-10-07/naturalscene.h5").exists()
    assert not (root / "neural_code_data/neural_code_data").exists()
    assert hosts.count(HF_PATH) == 2 and hosts.count(SDR_PATH) == 1
    record = (root / ".openretina/records/neural_code_data.zip.json").read_text()
    assert hashlib.sha256(archive).hexdigest() in record and SDR_PATH in record


def test_plugin_downloads_its_archive_and_reloads_offline(
    hosts: LocalFileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = pytest.importorskip("openretina_maheswaranathan_2023")
    sample = plugin.write_sample(tmp_path / "sample", seed=0, n_sessions=1)
    hosts.add_file(HF_PATH, zip_folder(Path(sample.data_dir)))
    options = {"batch_size": 4, **dict(sample.options)}
    loaders = plugin.get_maheswaranathan_dataloaders(download=True, **options)
    assert loaders["train"] and hosts.count(HF_PATH) == 1
    hosts.stop()
    monkeypatch.setenv("OPENRETINA_OFFLINE", "1")
    again = plugin.get_maheswaranathan_dataloaders(download=True, **options)
    first = next(iter(next(iter(again["train"].values()))))
    assert first.inputs.shape[0] == 4
