"""The generic dataset-plugin contract, applied to maheswaranathan_2023 (loaded by registry name)."""

from __future__ import annotations

import subprocess
import sys

from openretina_core.testing import DatasetPluginContract


class TestMaheswaranathanContract(DatasetPluginContract):
    dataset_id = "maheswaranathan_2023"

    def test_openretina_split_draws_openretinas_clips(self, sample) -> None:
        """openretina 1.1.1 with its defaults here (seed 42, 20 of the sample's 80 clips of 90 frames) draws
        np.random.RandomState(42).choice(80, 20, replace=False), in this order."""
        expected = [30, 0, 22, 31, 18, 28, 10, 70, 4, 12, 49, 33, 67, 35, 68, 45, 73, 61, 55, 40]
        loaders = self.load_sample(sample, split="openretina")
        assert set(map(tuple, loaders.data_info["val_clip_indices"].values())) == {tuple(expected)}
        ours = self.load_sample(sample).data_info["val_clip_indices"]
        assert all(clips == sorted(clips) and clips != expected for clips in ours.values())


def test_listing_imports_no_h5py() -> None:
    """Importing the plugin and registering it (what listing datasets does) must not import h5py."""
    code = (
        "import sys\n"
        "from openretina_core.registry import list_datasets\n"
        "assert 'maheswaranathan_2023' in list_datasets(), list_datasets()\n"
        "import openretina_maheswaranathan_2023\n"
        "print('h5py' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_info_states_the_facts() -> None:
    from openretina_core import dataset_info

    info = dataset_info("maheswaranathan_2023")
    assert info.frame_rate_hz == 100.0
    assert "salamander" in info.species[0]
    assert "multi-electrode" in info.recording_modality
    assert info.stimulus_types == ("naturalscene", "whitenoise")
    assert info.doi == "10.1016/j.neuron.2023.06.007"
    assert any("rk663dm5577" in url for url in info.data_urls)
    assert info.authors[0] == "Niru Maheswaranathan" and info.authors[-1] == "Stephen A. Baccus"
    assert any("trimmed" in note for note in info.notes)
    (archive,) = info.files
    assert archive.relative_path == "neural_code_data.zip" and archive.extract
    assert archive.urls[0].startswith("https://huggingface.co/datasets/open-retina/open-retina/resolve/main/")
    assert info.pip_extra == "maheswaranathan_2023"
    assert info.distribution == "openretina-maheswaranathan-2023"
