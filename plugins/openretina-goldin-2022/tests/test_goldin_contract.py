"""The generic dataset-plugin contract, applied to goldin_2022 (loaded by registry name), and the card."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from openretina_core.testing import DatasetPluginContract


class TestGoldinContract(DatasetPluginContract):
    dataset_id = "goldin_2022"

    def test_openretina_split_draws_openretinas_images(self, sample) -> None:
        """openretina 1.1.1 with its Goldin configuration (clip_length 1, 640 validation clips, seed 42) draws
        np.random.RandomState(42).choice(1600, 640, replace=False) for the sample's 1,600 train images, and
        serves them in the order drawn."""
        first = [526, 354, 168, 135, 937, 1544, 1253, 237, 478, 650, 514, 1103]
        expected = np.random.RandomState(42).choice(1600, 640, replace=False).tolist()
        assert expected[: len(first)] == first
        loaders = self.load_sample(sample, split="openretina")
        for session, images in loaders.data_info["val_image_indices"].items():
            assert images == expected, session
            served = loaders["validation"][session].batch_sampler.sampler.epoch_starts(0).tolist()
            assert served == list(range(640)), "the validation loader keeps the drawn order"
        ours = self.load_sample(sample).data_info["val_image_indices"]
        assert all(images == sorted(images) and images != expected for images in ours.values())


def test_listing_imports_no_h5py() -> None:
    """Importing the plugin and registering it (what listing datasets does) must not import h5py."""
    code = (
        "import sys\n"
        "from openretina_core.registry import list_datasets, dataset_info\n"
        "assert 'goldin_2022' in list_datasets(), list_datasets()\n"
        "dataset_info('goldin_2022')\n"
        "import openretina_goldin_2022\n"
        "print('h5py' in sys.modules, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_info_states_the_facts() -> None:
    from openretina_core import dataset_info

    info = dataset_info("goldin_2022")
    assert info.doi == "10.1038/s41467-022-33242-8" and info.year == 2022
    assert info.authors[0] == "Matías A. Goldin" and info.authors[-1] == "Olivier Marre"
    assert any("zenodo.org/records/6868362" in url for url in info.data_urls)
    assert any("marre_lab/goldin_2022" in url for url in info.data_urls)
    assert [s.split()[0] for s in info.species] == ["mouse", "axolotl"]
    assert "multi-electrode" in info.recording_modality
    assert "not stated" in info.license.lower()
    assert "0.3" in info.response_unit and "spikes per second" in info.response_unit
    assert info.frame_rate_hz is not None and abs(info.frame_rate_hz - 1 / 0.6) < 1e-9
    assert {f.group for f in info.files} == {"mouse", "axolotl"}
    for remote in info.files:
        assert remote.relative_path.endswith(".h5") and remote.group in remote.relative_path
        assert remote.urls[0].startswith(
            "https://huggingface.co/datasets/open-retina/open-retina/resolve/main/marre_lab/goldin_2022/"
        )
    assert any("not verified" in note for note in info.notes)
    assert any("never" in note and "shuffle" in note for note in info.notes)
    assert info.pip_extra == "goldin_2022" and info.distribution == "openretina-goldin-2022"
    assert "Goldin" in info.bibtex and info.doi in info.bibtex
