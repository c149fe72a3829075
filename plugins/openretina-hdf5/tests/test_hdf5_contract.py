"""The generic dataset-plugin contract, applied to the hdf5 format (loaded by registry name)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from openretina_core.testing import DatasetPluginContract


class TestHdf5Contract(DatasetPluginContract):
    dataset_id = "hdf5"

    def test_info_is_complete(self) -> None:
        """The contract's card check, except for what a format cannot have: it lists no files to download
        (``data_dir=`` is the lab's own folder) and no frame rate (the lab's own; ``frame_rate_hz=`` records it).
        """
        from openretina_core.registry import dataset_info

        info = dataset_info(self.dataset_id)
        for field_name in (
            "title",
            "year",
            "doi",
            "license",
            "recording_modality",
            "bibtex",
            "response_unit",
        ):
            assert getattr(info, field_name), f"DatasetInfo.{field_name} is empty"
        assert info.authors and info.species and info.stimulus_types
        assert info.doi in info.bibtex
        assert info.files == () and info.frame_rate_hz is None
        assert any("No download" in note for note in info.notes)

    def test_sample_is_openretinas_create_data_layout(self, sample) -> None:
        root = sample.data_dir
        assert sorted(p.name for p in (root / "stimuli").iterdir()) == [
            f"random_noise_{i}.npy" for i in range(4)
        ]
        assert sorted(p.name for p in root.glob("*.hdf5")) == ["session_0.hdf5", "session_1.hdf5"]
        for i in range(4):
            stimulus = np.load(root / "stimuli" / f"random_noise_{i}.npy", mmap_mode="r")
            assert stimulus.shape == (3, (70 + i) * 75, 16, 8) and stimulus.dtype == np.float64
        assert dict(sample.options) == {
            "test_names": ["random_noise_2", "random_noise_3"],
            "stimulus_size": (3, 16, 8),
            "clip_length": 75,
        }
        for session, filters in sample.filters.items():
            assert filters.shape[1:] == (3, 10, 16, 8) and 10 <= filters.shape[0] < 30, session

    def test_loaders_follow_the_sample(self, loaders, sample) -> None:
        assert set(loaders) == {"train", "validation", "random_noise_2", "random_noise_3"}
        info = loaders.data_info
        assert info["movie_copies_made"] == 0 and info["movie_buffers"] == 3  # train sequence + 2 tests
        for session, filters in sample.filters.items():
            assert info["n_neurons_dict"][session] == filters.shape[0]
            assert info["sessions_kwargs"][session]["celltypes"].shape == (filters.shape[0],)
            assert len(info["val_clip_indices"][session]) == 20
        test_inputs, _ = next(iter(loaders["random_noise_3"]["session_0"]))
        assert test_inputs.shape[2] == 73 * 75  # one sample: the whole test stimulus


def test_listing_imports_neither_numpy_nor_h5py() -> None:
    """Registering the format (what listing datasets does) imports no numpy, h5py or torch."""
    code = (
        "import sys\n"
        "from openretina_core.registry import list_datasets, dataset_info\n"
        "assert 'hdf5' in list_datasets(), list_datasets()\n"
        "dataset_info('hdf5')\n"
        "import openretina_hdf5\n"
        "print(sorted(m for m in ('h5py', 'numpy', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_info_states_the_facts() -> None:
    from openretina_core import dataset_info

    info = dataset_info("hdf5")
    assert info.distribution == "openretina-hdf5" and info.pip_extra == "hdf5"
    assert info.doi == "10.1101/2025.03.07.642012"  # openretina's preprint: the format is openretina's
    assert "not a published dataset" in info.license
    assert "responses_<name>" in info.description and "create-data" in info.description
