"""The generic plugin contract, run on the synthetic sample."""

from __future__ import annotations

import pytest

from openretina_core.registry import SyntheticSample
from openretina_core.testing import DatasetPluginContract


class TestHoeflingContract(DatasetPluginContract):
    dataset_id = "hoefling_2024"

    @pytest.fixture(scope="class")
    @classmethod
    def sample(cls, hoefling_sample: SyntheticSample) -> SyntheticSample:
        return hoefling_sample


def test_listing_imports_no_loading_code() -> None:
    """Registering the dataset must not import h5py or the loaders (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = (
        "import sys, openretina_core as oc; names = oc.list_datasets(); "
        "assert 'hoefling_2024' in names, names; "
        "bad = [m for m in ('h5py', 'openretina_hoefling_2024.responses', 'openretina_hoefling_2024.dataloaders') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_registry_card() -> None:
    from openretina_core import dataset_info

    info = dataset_info("hoefling_2024")
    assert info.doi == "10.7554/eLife.86860"
    assert any("gin.g-node.org/eulerlab/rgc-natstim" in url for url in info.data_urls)
    paths = {f.relative_path: f for f in info.files}
    assert paths["responses/rgc_natstim_2024-08-14.zip"].extract
    for res in ("18x16_joint_normalized_2024-01-11", "72x64_joint_normalized_2024-10-11"):
        remote = paths[f"stimuli/rgc_natstim_{res}.zip"]
        assert (
            remote.extract
            and remote.group
            and remote.urls[0].startswith(
                "https://huggingface.co/datasets/open-retina/open-retina/resolve/main/euler_lab/hoefling_2024/stimuli/"
            )
        )
