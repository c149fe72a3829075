"""The contract every dataset plugin's tests reuse.

Subclass :class:`DatasetPluginContract` in a plugin's test module and set ``dataset_id``::

    class TestContract(DatasetPluginContract):
        dataset_id = "karamanlis_2024"

The tests write the plugin's synthetic sample, load it by registry name with the network switched off, and
check the card, the shapes and the error for missing files. Requires pytest, which the core's ``testing`` extra
installs: ``pip install "openretina-core[testing]"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

try:
    import pytest
except ImportError as exc:  # the one optional dependency of the contract: say how to get it
    raise ImportError(
        'openretina_core.testing.DatasetPluginContract needs pytest: pip install "openretina-core[testing]"'
    ) from exc
import torch

from openretina_core.registry.specs import SyntheticSample


class DatasetPluginContract:
    """Generic checks for one registered dataset; subclasses set ``dataset_id`` (and may add options)."""

    dataset_id: ClassVar[str] = ""
    batch_size: ClassVar[int] = 4
    extra_options: ClassVar[dict[str, Any]] = {}

    @pytest.fixture(scope="class")
    @classmethod
    def sample(cls, tmp_path_factory: pytest.TempPathFactory) -> SyntheticSample:
        from openretina_core.registry.tables import get_dataset_spec

        spec = get_dataset_spec(cls.dataset_id)
        if spec.write_sample is None:
            pytest.fail(f"dataset {cls.dataset_id!r} registers no write_sample")
        root = tmp_path_factory.mktemp(f"{cls.dataset_id}_sample")
        sample = spec.write_sample(root, seed=0)
        if not isinstance(sample, SyntheticSample):
            pytest.fail(f"write_sample returned {type(sample).__name__}, expected SyntheticSample")
        return sample

    @classmethod
    def load_sample(cls, sample: SyntheticSample, **options: Any) -> Any:
        """Load the sample by registry name with the network switched off."""
        import os

        from openretina_core.data.registered import get_dataloaders

        previous = os.environ.get("OPENRETINA_OFFLINE")
        os.environ["OPENRETINA_OFFLINE"] = "1"
        try:
            return get_dataloaders(
                cls.dataset_id,
                data_dir=sample.data_dir,
                batch_size=cls.batch_size,
                **{**dict(sample.options), **cls.extra_options, **options},
            )
        finally:
            if previous is None:
                os.environ.pop("OPENRETINA_OFFLINE", None)
            else:
                os.environ["OPENRETINA_OFFLINE"] = previous

    @pytest.fixture(scope="class")
    @classmethod
    def loaders(cls, sample: SyntheticSample) -> Any:
        return cls.load_sample(sample)

    def test_openretina_split_is_accepted_and_a_wrong_split_refused(self, sample: SyntheticSample) -> None:
        """``split="openretina"`` (openretina 1.1.1's validation clips) works for every dataset; a misspelt
        split names the choices."""
        loaders = self.load_sample(sample, split="openretina")
        chosen = loaders.data_info.get("val_clip_indices", {})
        assert set(chosen) == set(loaders["train"]), "validation clips are recorded for every session"
        for session, clips in chosen.items():
            assert len(set(clips)) == len(clips), f"{session}: validation clips repeat"
        with pytest.raises(ValueError, match="split must be one of"):
            self.load_sample(sample, split="no-such-split")

    def test_registered_with_distribution(self) -> None:
        from openretina_core.registry.tables import dataset_info, list_datasets

        assert self.dataset_id in list_datasets()
        info = dataset_info(self.dataset_id)
        assert info.distribution, "the registry records which distribution registered the dataset"

    def test_info_is_complete(self) -> None:
        from openretina_core.registry.tables import dataset_info

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
        assert info.authors and info.species and info.stimulus_types and info.files
        assert info.frame_rate_hz is not None
        assert info.id in info.bibtex or (info.doi or "-") in info.bibtex or str(info.year) in info.bibtex
        for remote in info.files:
            assert remote.relative_path and remote.urls, f"file {remote} lacks a path or URL"

    def test_sample_loads_offline_with_aligned_shapes(self, loaders: Any) -> None:
        assert "train" in loaders and "validation" in loaders
        assert loaders["train"], "no training sessions"
        for split, group in loaders.items():
            for session, loader in group.items():
                inputs, targets = next(iter(loader))
                assert inputs.ndim == 5 and targets.ndim == 3, (split, session)
                assert inputs.shape[0] == targets.shape[0], "batch sizes differ"
                assert inputs.shape[2] == targets.shape[1], "stimulus and response time axes differ"
                assert inputs.dtype == torch.float32 and targets.dtype == torch.float32
                assert torch.isfinite(inputs).all() and torch.isfinite(targets).all()

    def test_train_batches_have_requested_size(self, loaders: Any) -> None:
        for loader in loaders["train"].values():
            inputs, _ = next(iter(loader))
            assert inputs.shape[0] == self.batch_size

    def test_missing_files_give_clear_error(self, tmp_path: Path) -> None:
        from openretina_core.data.registered import get_dataloaders

        empty = tmp_path / "empty_dataset_root"
        empty.mkdir()
        with pytest.raises((FileNotFoundError, ValueError)) as excinfo:
            get_dataloaders(self.dataset_id, data_dir=empty, batch_size=self.batch_size, **self.extra_options)
        assert str(empty) in str(excinfo.value), "the error must say where it looked"
