"""The device hooks: defaults, overrides by a throwaway plugin, and delivery through loaders and cyclers."""

from __future__ import annotations

import pytest
import torch

import openretina_core
from openretina_core import LongCycler, ShortCycler
from openretina_core.data.device import DeviceDataLoader, resolve_device, to_device
from openretina_core.data.movie_dataset import DataPoint
from openretina_core.registry.default_plugins import device as default_device


def test_hook_choose_device_defaults(fresh_plugins) -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_hook_move_batch_default_moves_nested_batches() -> None:
    batch = DataPoint(torch.zeros(2, 1, 3, 4, 4), torch.ones(2, 3, 5))
    moved = default_device.move_batch(batch, torch.device("cpu"))
    assert isinstance(moved, DataPoint) and moved.inputs is batch.inputs, "no copy when already on the device"
    nested = default_device.move_batch({"a": [batch.inputs], "b": (batch.targets, 3)}, torch.device("cpu"))
    assert nested["b"][1] == 3 and nested["a"][0] is batch.inputs


def test_hook_keep_on_device_default() -> None:
    assert default_device.keep_on_device(10, torch.device("cpu")) is False


class TaggingPlugin:
    """Overrides every device decision; records what it saw."""

    def __init__(self) -> None:
        self.moved = 0

    @openretina_core.hookimpl
    def choose_device(self, requested):
        return torch.device("cpu")

    @openretina_core.hookimpl
    def move_batch(self, batch, device):
        self.moved += 1
        return DataPoint(batch.inputs + 1000, batch.targets)

    @openretina_core.hookimpl
    def keep_on_device(self, nbytes, device):
        return True


def test_a_plugin_overrides_the_device_hooks_for_every_loader(toy_plugins, tmp_path) -> None:
    from toy_dataset_plugin import write_toy_sample

    plugin = TaggingPlugin()
    toy_plugins.manager.register(plugin, name="tagging")
    sample = write_toy_sample(tmp_path)
    loaders = openretina_core.get_dataloaders(
        "toy_2025", data_dir=sample.data_dir, batch_size=8, device="cuda:7"
    )
    assert loaders.data_info["device"] == "cpu", "the plugin's choose_device won over the request"
    for split in loaders.values():
        for loader in split.values():
            assert isinstance(loader, DeviceDataLoader)
    inputs, _ = next(iter(loaders["train"]["session_a"]))
    assert inputs.min() > 900, "batches went through the plugin's move_batch"
    pairs = list(LongCycler(loaders["train"]))
    assert all(batch.inputs.min() > 900 for _, batch in pairs), "cyclers deliver through the hook too"
    assert plugin.moved == 1 + len(pairs)
    assert all(batch.inputs.min() > 900 for _, batch in ShortCycler(loaders["validation"]))


def test_device_none_returns_plain_loaders(toy_plugins, tmp_path) -> None:
    from toy_dataset_plugin import write_toy_sample

    sample = write_toy_sample(tmp_path)
    loaders = openretina_core.get_dataloaders("toy_2025", data_dir=sample.data_dir, batch_size=8)
    assert isinstance(loaders["train"]["session_a"], torch.utils.data.DataLoader)
    on_cpu = to_device(loaders, "cpu")
    assert on_cpu.data_info["kept_on_device"] is False
    assert len(on_cpu["train"]["session_a"]) == len(loaders["train"]["session_a"])
    assert on_cpu["train"]["session_a"].dataset is loaders["train"]["session_a"].dataset


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_and_data_kept_on_device(toy_plugins, tmp_path) -> None:
    from toy_dataset_plugin import write_toy_sample

    sample = write_toy_sample(tmp_path)
    loaders = openretina_core.get_dataloaders(
        "toy_2025", data_dir=sample.data_dir, batch_size=8, device="cuda"
    )
    assert loaders.data_info["kept_on_device"] is True
    dataset = loaders["train"]["session_a"].dataset
    assert dataset.movie.is_cuda
    for _key, (inputs, targets) in LongCycler(loaders["train"]):
        assert inputs.is_cuda and targets.is_cuda
    streamed = openretina_core.get_dataloaders(
        "toy_2025", data_dir=sample.data_dir, batch_size=8, device="cuda", keep_on_device=False
    )
    inputs, targets = next(iter(streamed["train"]["session_a"]))
    assert inputs.is_cuda and not streamed["train"]["session_a"].dataset.movie.is_cuda
