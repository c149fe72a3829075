"""BaseDataLoader: the seed page's MyExperimentDataLoader example, run as written with our import path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import openretina_core
from openretina_core import BaseDataLoader, get_dataloaders


class MyExperimentDataLoader(BaseDataLoader):
    def __init__(self, data_path, **kwargs):
        super().__init__(**kwargs)
        # Load your data
        self.stimuli = torch.from_numpy(np.load(f"{data_path}/stimuli.npy"))
        self.responses = torch.from_numpy(np.load(f"{data_path}/responses.npy"))

    def __len__(self):
        return len(self.stimuli)

    def get_item(self, idx):
        return {"stimulus": self.stimuli[idx], "response": self.responses[idx]}


@pytest.fixture
def experiment_dir(tmp_path):
    rng = np.random.default_rng(0)
    trials, t = 6, 300
    stimuli = rng.standard_normal((trials, 1, t, 6, 8)).astype(np.float32)
    frame_index = np.arange(trials * t, dtype=np.float32).reshape(trials, t)
    stimuli[:, 0, :, 0, 0] = frame_index  # encode time so alignment can be checked
    responses = np.repeat(frame_index[:, None, :], 5, axis=1)  # (trials, N, T)
    np.save(tmp_path / "stimuli.npy", stimuli)
    np.save(tmp_path / "responses.npy", responses)
    return tmp_path


def test_seed_example_builds_aligned_loaders(experiment_dir) -> None:
    dataset = MyExperimentDataLoader(experiment_dir, test_items=[5], clip_length=100, num_val_clips=2)
    assert len(dataset) == 6
    item = dataset[0]
    assert item["stimulus"].shape == (1, 300, 6, 8) and item["response"].shape == (5, 300)
    loaders = get_dataloaders(dataset, batch_size=4)
    assert set(loaders) == {"train", "validation", "test"}
    session = "MyExperimentDataLoader"
    for split in loaders:
        for inputs, targets in loaders[split][session]:
            torch.testing.assert_close(inputs[:, 0, :, 0, 0], targets[..., 0])
    test_inputs, _ = next(iter(loaders["test"][session]))
    assert test_inputs[0, 0, 0, 0, 0] == 5 * 300, "the held-out trial is the test stimulus"
    val_frames = {int(v) for x, _ in loaders["validation"][session] for v in x[:, 0, :, 0, 0].reshape(-1)}
    train_frames = {int(v) for x, _ in loaders["train"][session] for v in x[:, 0, :, 0, 0].reshape(-1)}
    assert len(val_frames) == 200 and not val_frames & train_frames


def test_train_chunks_stay_inside_items_by_default(experiment_dir) -> None:
    loaders = openretina_core.get_dataloaders(MyExperimentDataLoader(experiment_dir), batch_size=2)
    for _ in range(3):
        for inputs, _ in loaders["train"]["MyExperimentDataLoader"]:
            frames = inputs[:, 0, :, 0, 0].long()
            assert ((frames // 300) == (frames[:, :1] // 300)).all()


class BrokenItems(BaseDataLoader):
    def __init__(self, items, **kwargs):
        super().__init__(**kwargs)
        self.items = items

    def __len__(self):
        return len(self.items)

    def get_item(self, idx):
        return self.items[idx]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"stimulus": np.zeros((10, 4, 4))}, "must return a dict with 'stimulus' and 'response'"),
        (
            {"stimulus": np.zeros((10, 4, 4)), "response": np.zeros((3, 10))},
            r"expected shape \(channels, time, height, width\)",
        ),
        (
            {"stimulus": np.zeros((1, 10, 4, 4)), "response": np.zeros(10)},
            r"expected shape \(neurons, time\)",
        ),
        (
            {"stimulus": np.zeros((1, 10, 4, 4)), "response": np.zeros((3, 9))},
            "10 frames but response has 9 bins",
        ),
        ({"stimulus": np.full((1, 10, 4, 4), np.nan), "response": np.zeros((3, 10))}, "NaN"),
    ],
)
def test_bad_items_are_named(item, message) -> None:
    dataset = BrokenItems([item])
    with pytest.raises(ValueError, match=message):
        dataset.get_dataloaders()


def test_items_must_agree_on_neurons() -> None:
    items = [
        {"stimulus": np.zeros((1, 100, 4, 4)), "response": np.zeros((3, 100))},
        {"stimulus": np.zeros((1, 100, 4, 4)), "response": np.zeros((4, 100))},
    ]
    with pytest.raises(ValueError, match="disagree on"):
        BrokenItems(items).get_dataloaders()
