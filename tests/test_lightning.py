"""``RetinaDataModule`` in a real ``Trainer.fit`` on the CPU: a registry name, a ``BaseDataLoader`` and a
loaders dict; training through ``LongCycler``, evaluation through ``ShortCycler``; a checkpoint taken
mid-epoch resumes with exactly the batches not yet trained on; two gloo ranks shard through the loaders."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

lightning = pytest.importorskip("lightning.pytorch")

from cycler_fixtures import build  # noqa: E402
from lightning_fixtures import TimeCodedRecording, TinyModel  # noqa: E402

from openretina_core import ShortCycler  # noqa: E402
from openretina_core.lightning import RetinaDataModule  # noqa: E402

QUIET = {
    "accelerator": "cpu",
    "devices": 1,
    "logger": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "num_sanity_val_steps": 0,
}


def model_for(data: RetinaDataModule, **kwargs) -> TinyModel:
    info = data.data_info
    return TinyModel(info["n_neurons_dict"], int(info["input_shape"][0]), **kwargs)


def test_fit_validate_and_test_a_registry_dataset(toy_plugins, tmp_path) -> None:
    from toy_dataset_plugin import write_toy_sample

    sample = write_toy_sample(tmp_path / "toy")
    data = RetinaDataModule("toy_2025", data_dir=sample.data_dir, batch_size=8, seed=3)
    data.prepare_data()
    data.setup("fit")
    model = model_for(data)
    trainer = lightning.Trainer(max_steps=6, limit_val_batches=3, enable_checkpointing=False, **QUIET)
    trainer.fit(model, datamodule=data)
    assert len(model.seen) == 6 and {s for s, _ in model.seen} == {"session_a", "session_b"}
    trainer.test(model, datamodule=data, verbose=False)
    expected = [[key, int(batch.inputs.shape[0])] for key, batch in ShortCycler(data.loaders["test"])]
    assert model.evaluated["test"] == expected, "the test set is every sample once, sessions in order"
    assert data.test_names == ["test"]


def test_a_base_dataloader_and_its_batches(tmp_path) -> None:
    data = RetinaDataModule(TimeCodedRecording(), batch_size=4, shuffle_sessions=False)
    data.setup("fit")
    session, batch = next(iter(data.train_dataloader()))
    assert session == "recording" and tuple(batch.inputs.shape) == (4, 1, 20, 2, 2)
    moved = data.transfer_batch_to_device((session, batch), torch.device("cpu"), 0)
    assert moved[0] == "recording" and moved[1].inputs.device.type == "cpu"
    with pytest.raises(TypeError, match="registry name, a BaseDataLoader or a loaders dict"):
        RetinaDataModule(42)  # type: ignore[arg-type]


def signature(seen: list) -> list:
    return [[s, frames] for s, frames in seen]


@pytest.mark.parametrize("cut", [5, 12])
def test_a_checkpoint_taken_mid_epoch_resumes_with_the_untrained_batches(tmp_path, cut: int) -> None:
    """One uninterrupted run of two epochs; then the same run checkpointed after ``cut`` steps (by
    ``ModelCheckpoint`` during the epoch, while Lightning has fetched one batch ahead) and resumed from that
    checkpoint in a fresh trainer, data module and model: together they train on the same batches."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    def fresh() -> RetinaDataModule:
        data = RetinaDataModule(build(), batch_size=8, seed=5)
        data.setup("fit")
        return data

    steps_per_epoch = len(fresh().train_dataloader())
    data = fresh()
    reference = model_for(data)
    lightning.Trainer(max_epochs=2, limit_val_batches=0, enable_checkpointing=False, **QUIET).fit(
        reference, datamodule=data
    )
    assert len(reference.seen) == 2 * steps_per_epoch

    data = fresh()
    first = model_for(data)
    saving = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=cut, save_top_k=-1)
    lightning.Trainer(max_steps=cut + 3, limit_val_batches=0, callbacks=[saving], **QUIET).fit(
        first, datamodule=data
    )
    checkpoint = tmp_path / f"epoch=0-step={cut}.ckpt"
    assert checkpoint.exists(), sorted(p.name for p in tmp_path.iterdir())

    data = fresh()
    second = model_for(data)
    trainer = lightning.Trainer(max_epochs=2, limit_val_batches=0, enable_checkpointing=False, **QUIET)
    trainer.fit(second, datamodule=data, ckpt_path=checkpoint)
    assert signature(first.seen[:cut]) + signature(second.seen) == signature(reference.seen)


@pytest.mark.slow
def test_two_gloo_ranks_train_on_disjoint_shares(tmp_path) -> None:
    data = RetinaDataModule(TimeCodedRecording(), batch_size=4)
    model = TinyModel({"recording": 2}, 1, record_dir=str(tmp_path))
    trainer = lightning.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=1,
        limit_val_batches=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=data)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) > 0, "every rank takes the same number of steps"
    starts = [Counter(frame for _, frames in seen for frame in frames) for seen in ranks]
    assert not set(starts[0]) & set(starts[1]), "the ranks never train on the same chunk"
    single = RetinaDataModule(TimeCodedRecording(), batch_size=4)
    single.setup("fit")
    assert len(ranks[0]) == len(single.train_dataloader()) // 2, "each rank has half the batches"
