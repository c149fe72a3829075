"""The plugin contract, plus what the synthetic sample must show: splits, shapes, units and recoverable filters.

STA tolerance: every neuron's spike-triggered average (train and validation batches, 4 lags) correlates with
its true LN filter at >= 0.35 (mean >= 0.45); with responses paired to other batches' frames (no stimulus
relation) it stays below 0.15. The limit is estimation noise from ~5,000 frames of 4,800 pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from openretina_karamanlis_2024 import get_karamanlis_dataloaders, load_all_responses, load_all_stimuli
from openretina_karamanlis_2024.sample import MARMOSET, MOUSE, MOUSE_WITHOUT_FILE, MOUSE_ZIPPED

from openretina_core.data import filter_correlation, spike_triggered_average
from openretina_core.registry import SyntheticSample
from openretina_core.testing import DatasetPluginContract


class TestKaramanlisContract(DatasetPluginContract):
    dataset_id = "karamanlis_2024"

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _isolated_cache(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
        """Composed movies and extracted zips go to a temporary cache, not the user's."""
        patch = pytest.MonkeyPatch()
        cache = tmp_path_factory.mktemp("karamanlis_cache")
        patch.setenv("OPENRETINA_CACHE_DIR", str(cache))
        patch.setenv("OPENRETINA_NO_PROGRESS", "1")
        yield cache
        patch.undo()

    def test_openretina_split_draws_openretinas_clips(self, sample: SyntheticSample) -> None:
        """openretina 1.1.1 with its defaults here (seed 42, 20 of the mouse sample's 64 clips of 75 frames)
        draws np.random.RandomState(42).choice(64, 20, replace=False), in this order."""
        expected = [52, 58, 0, 44, 5, 36, 16, 12, 25, 61, 56, 9, 40, 13, 34, 50, 3, 17, 49, 8]
        loaders = self.load_sample(sample, split="openretina")
        assert set(map(tuple, loaders.data_info["val_clip_indices"].values())) == {tuple(expected)}

    def test_info_says_what_the_data_are(self) -> None:
        from openretina_core import dataset_info

        info = dataset_info(self.dataset_id)
        assert "multielectrode" in info.recording_modality.lower()
        assert "not calcium imaging" in info.recording_modality
        assert info.doi == "10.12751/g-node.ejk8kx"
        assert "s41586-024-08212-3" in info.bibtex and "Nature" in info.bibtex
        assert info.frame_rate_hz == {"mouse": 75.0, "marmoset": 85.0}
        assert {f.group for f in info.files} == {"mouse", "marmoset"}

    def test_sessions_found_and_skipped(self, loaders: Any) -> None:
        assert sorted(loaders["train"]) == sorted([MOUSE, MOUSE_ZIPPED])
        assert MOUSE_WITHOUT_FILE not in loaders["train"] and MARMOSET not in loaders["train"]
        assert sorted(loaders) == ["test", "train", "validation"]

    def test_shapes_and_splits(self, loaders: Any, sample: SyntheticSample) -> None:
        info = loaders.data_info
        assert info["input_shape"] == (1, 60, 80)
        assert info["response_rate_hz"] == 75.0 and info["animal_species"] == "mouse"
        for session in (MOUSE, MOUSE_ZIPPED):
            inputs, targets = next(iter(loaders["train"][session]))
            assert tuple(inputs.shape) == (self.batch_size, 1, 50, 60, 80)
            assert tuple(targets.shape) == (self.batch_size, 50, 8)
            val_inputs, _ = next(iter(loaders["validation"][session]))
            assert tuple(val_inputs.shape[1:]) == (1, 75, 60, 80)
            assert len(info["val_clip_indices"][session]) == 20
            assert sum(x.shape[0] for x, _ in loaders["validation"][session]) == 20
            test_inputs, test_targets = next(iter(loaders["test"][session]))
            assert tuple(test_inputs.shape) == (1, 1, 300, 60, 80)
            assert tuple(test_targets.shape) == (1, 300, 8)
            by_trial = loaders["test"][session].dataset.test_responses_by_trial
            assert tuple(by_trial.shape) == (4, 8, 300)
            torch.testing.assert_close(by_trial.mean(dim=0).T, test_targets[0])
            # Train chunks cover the non-validation clips: 4800 frames = 64 clips, 44 of them train.
            assert len(loaders["train"][session]) == (44 * 75 // 50) // self.batch_size

    def test_session_zip_unpacks_into_the_session_folder(self, sample: SyntheticSample) -> None:
        """As published: a ``<session>/`` folder entry, then the files below it (every member starts with it).

        openretina's ``unzip_and_cleanup`` extracts a one-member zip as a single file; a zip whose members all
        sit below one folder named like the zip unpacks into that folder, which its loaders then list.
        """
        import zipfile

        archive = Path(sample.data_dir) / "sessions" / f"{MOUSE_ZIPPED}.zip"
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names[0] == f"{MOUSE_ZIPPED}/" and infos[0].is_dir()
        assert all(name.startswith(f"{MOUSE_ZIPPED}/") for name in names) and len(names) > 1
        assert f"{MOUSE_ZIPPED}/{MOUSE_ZIPPED}_fixationmovie_data.mat" in names

    def test_responses_are_the_files_counts(self, sample: SyntheticSample, tmp_path: Path) -> None:
        responses = load_all_responses(sample.data_dir, species="marmoset", cache_dir=tmp_path)
        path = Path(sample.data_dir) / "sessions" / MARMOSET / f"{MARMOSET}_fixationmovie_data.mat"
        with h5py.File(path, "r") as handle:
            running, frozen = handle["runningbin"][()], handle["frozenbin"][()]
        split = responses[MARMOSET]
        np.testing.assert_array_equal(split.train, running.reshape(-1, running.shape[2]).T)
        np.testing.assert_array_equal(split.test_by_trial, frozen.transpose(0, 2, 1))
        np.testing.assert_allclose(split.test_response, frozen.mean(axis=0).T, rtol=1e-6)
        assert split.session_kwargs["frame_rate_hz"] == 85.0 and split.session_kwargs["array"] == "60MEA"
        halved = load_all_responses(
            sample.data_dir, species="marmoset", fr_normalization=2.0, cache_dir=tmp_path
        )
        np.testing.assert_allclose(halved[MARMOSET].train, split.train / 2)

    def test_stimuli_are_zscored_per_session(self, sample: SyntheticSample) -> None:
        movies = load_all_stimuli(sample.data_dir, species="marmoset")[MARMOSET]
        assert movies.train.shape == (1, 4800, 60, 80) and movies.test.shape == (1, 300, 60, 80)
        assert abs(float(movies.train.mean())) < 1e-3 and abs(float(movies.train.std()) - 1) < 1e-3
        assert movies.norm_std is not None and movies.norm_std > 0

    def test_marmoset_by_registry_name(self, sample: SyntheticSample) -> None:
        from openretina_core import get_dataloaders

        loaders = get_dataloaders(self.dataset_id, data_dir=sample.data_dir, batch_size=8, species="marmoset")
        assert list(loaders["train"]) == [MARMOSET]
        assert loaders.data_info["response_rate_hz"] == 85.0

    def test_seed_page_call(self, sample: SyntheticSample) -> None:
        loaders = get_karamanlis_dataloaders(batch_size=32, download=True, data_dir=sample.data_dir)
        inputs, targets = next(iter(loaders["train"][MOUSE]))
        assert inputs.shape[0] == 32 and targets.shape[-1] == 8

    def test_sta_recovers_the_true_filters(self, loaders: Any, sample: SyntheticSample) -> None:
        for session in (MOUSE, MOUSE_ZIPPED):
            truth = np.asarray(sample.filters[session])
            batches = [*loaders["train"][session], *loaders["validation"][session]]
            estimate = spike_triggered_average(batches, filter_length=truth.shape[2])
            correlation = filter_correlation(estimate, truth)
            assert correlation.min() >= 0.35 and correlation.mean() >= 0.45, correlation
            train = batches[: len(loaders["train"][session])]  # equal-sized batches
            shifted = [(x, y) for (x, _), (_, y) in zip(train, train[5:])]  # responses to other frames
            control = filter_correlation(spike_triggered_average(shifted, truth.shape[2]), truth)
            assert np.abs(control).max() < 0.15, control

    def test_without_data_dir_it_asks_for_download(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path))
        monkeypatch.setenv("OPENRETINA_OFFLINE", "1")
        with pytest.raises((FileNotFoundError, ConnectionError, OSError)) as excinfo:
            get_karamanlis_dataloaders(download=False)
        assert "download" in str(excinfo.value).lower()

    def test_listing_imports_no_loader(self) -> None:
        """Registering the dataset must not import h5py or the loaders (listing stays cheap)."""
        import os
        import subprocess
        import sys

        code = (
            "import sys, openretina_core; openretina_core.dataset_info('karamanlis_2024'); "
            "print(sorted(m for m in ('h5py', 'openretina_karamanlis_2024.stimuli') if m in sys.modules))"
        )
        env = {**os.environ, "OPENRETINA_PLUGINS": "karamanlis_2024"}
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        assert done.stdout.strip() == "[]", done.stdout + done.stderr

    def test_unknown_species_lists_valid_values(self, sample: SyntheticSample) -> None:
        with pytest.raises(ValueError, match="mouse.*marmoset"):
            get_karamanlis_dataloaders(data_dir=sample.data_dir, species="human")
