"""The generic dataset-plugin contract applied to sridhar_2025 (loaded by registry name), and the card."""

from __future__ import annotations

import subprocess
import sys

from openretina_core.testing import DatasetPluginContract


class TestSridharContract(DatasetPluginContract):
    dataset_id = "sridhar_2025"

    def test_openretina_split_draws_openretinas_trials(self, sample) -> None:
        """split="openretina" draws the validation trials as openretina does (seed None -> 1000), in the drawn
        order; ours are sorted. Expected values: openretina 1.1.1's get_trial_wise_validation_split."""
        loaders = self.load_sample(sample, split="openretina")
        assert loaders.data_info["val_trials"]["01"] == OPENRETINA_VAL_20_SEED_1000
        assert loaders.data_info["val_trials"]["02"] == OPENRETINA_VAL_10_SEED_1000
        assert loaders.data_info["train_trials"]["01"] == OPENRETINA_TRAIN_20_SEED_1000
        served = loaders["validation"]["01"].batch_sampler.sampler.epoch_starts(0).tolist()
        assert served == sorted(served), "validation chunks are served in the drawn trial order"
        ours = self.load_sample(sample).data_info["val_trials"]
        assert all(trials == sorted(trials) for trials in ours.values())

    def test_whitenoise_loads_by_registry_name(self, sample) -> None:
        loaders = self.load_sample(sample, stim_type="whitenoise")
        assert sorted(loaders["train"]) == ["01", "04"]
        inputs, targets = next(iter(loaders["train"]["04"]))
        assert inputs.shape[1:] == (1, 50, 80, 90) and targets.shape[1:] == (50, 7)


# openretina 1.1.1, data_io/sridhar_2025/dataloader_utils.get_trial_wise_validation_split(train_responses with
# 20 / 10 trials, train_frac=0.8, seed=None), run in .venv-openretina.
OPENRETINA_TRAIN_20_SEED_1000 = [16, 11, 18, 10, 12, 5, 6, 17, 9, 19, 0, 2, 7, 14, 15, 13]
OPENRETINA_VAL_20_SEED_1000 = [3, 1, 8, 4]
OPENRETINA_VAL_10_SEED_1000 = [7, 3]


def test_listing_imports_no_torch() -> None:
    """Importing the plugin and registering it (what listing datasets does) must not import torch."""
    code = (
        "import sys\n"
        "from openretina_core.registry import list_datasets, dataset_info\n"
        "assert 'sridhar_2025' in list_datasets(), list_datasets()\n"
        "dataset_info('sridhar_2025')\n"
        "import openretina_sridhar_2025\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_info_states_the_facts() -> None:
    from openretina_core import dataset_info

    info = dataset_info("sridhar_2025")
    assert info.doi == "10.12751/g-node.3dfiti" and info.year == 2025
    assert "10.1371/journal.pcbi.1014157" in (info.paper_url or "")
    assert info.authors[0] == "Shashwat Sridhar" and info.authors[-1] == "Tim Gollisch"
    assert any("2024.03.05.583449" in url for url in info.data_urls)
    assert any(url.endswith("sridhar_2025/marmoset/natural_movie") for url in info.data_urls)
    assert any(url.endswith("sridhar_2025/marmoset/whitenoise") for url in info.data_urls)
    assert info.stimulus_types == ("natural_movie", "whitenoise")
    assert info.frame_rate_hz == 85.0 and "marmoset" in info.species[0]
    assert {f.group for f in info.files} == {"natural_movie", "whitenoise"}
    paths = {f.relative_path for f in info.files}
    assert "natural_movie/responses/cell_responses_02_fixation_movie.pkl" in paths
    assert "natural_movie/fixations/complete_fixations_seed2022_s4.txt" in paths
    assert "whitenoise/responses/cell_responses_04_wn.pkl" in paths
    assert not any("cell_responses_03_wn" in p for p in paths), "there is no white-noise session 03"
    assert info.pip_extra == "sridhar_2025" and info.distribution == "openretina-sridhar-2025"
    assert "Sridhar" in info.bibtex and info.doi in info.bibtex
