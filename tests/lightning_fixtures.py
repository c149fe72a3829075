"""For the Lightning tests (importable by spawned DDP children): a tiny retina model, a per-session linear
readout of the spatially averaged stimulus that records the first frame of every chunk it trains on, and a
time-coded ``BaseDataLoader`` recording."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import LightningModule

from openretina_core import BaseDataLoader
from openretina_core.data.movie_dataset import DataPoint


class TinyModel(LightningModule):
    def __init__(self, n_neurons: dict[str, int], channels: int, record_dir: str | None = None) -> None:
        super().__init__()
        self.readouts = torch.nn.ModuleDict(
            {session: torch.nn.Linear(channels, n) for session, n in sorted(n_neurons.items())}
        )
        self.record_dir = record_dir
        self.seen: list[list] = []  # [session, first frames] per training batch
        self.evaluated: dict[str, list] = {"val": [], "test": []}

    def loss(self, batch) -> torch.Tensor:
        session, data = batch
        inputs, targets = data  # (B, C, T, H, W), (B, T, N)
        features = inputs.mean(dim=(-1, -2)).transpose(1, 2)  # (B, T, C)
        prediction = torch.nn.functional.softplus(self.readouts[session](features))
        return torch.nn.functional.poisson_nll_loss(prediction, targets, log_input=False)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        session, data = batch
        if not (isinstance(session, str) and isinstance(data, DataPoint)):
            raise TypeError(f"expected (session, DataPoint), got {type(session)}, {type(data)}")
        if data.inputs.device != self.device:
            raise RuntimeError("batches must arrive on the module's device")
        self.seen.append([session, [int(v) for v in data.inputs[:, 0, 0, 0, 0].tolist()]])
        return self.loss(batch)

    def validation_step(self, batch, batch_idx: int) -> None:
        size = int(batch[1].inputs.shape[0])
        self.evaluated["val"].append([batch[0], size])
        self.log("val_loss", self.loss(batch), batch_size=size)

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.evaluated["test"].append([batch[0], int(batch[1].inputs.shape[0])])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def on_train_end(self) -> None:
        if self.record_dir is not None:
            Path(self.record_dir, f"rank{self.global_rank}.json").write_text(json.dumps(self.seen))


class TimeCodedRecording(BaseDataLoader):
    """Six trials of 200 frames; pixel (0, 0) of every frame holds its global frame index."""

    def __init__(self, **kwargs) -> None:
        super().__init__(
            session_name="recording", clip_length=100, num_val_clips=2, train_chunk_size=20, **kwargs
        )

    def __len__(self) -> int:
        return 6

    def get_item(self, idx: int) -> dict:
        frames = np.arange(200, dtype=np.float32) + 200 * idx
        stimulus = np.zeros((1, 200, 2, 2), dtype=np.float32)
        stimulus[0, :, 0, 0] = frames
        response = np.abs(np.sin(np.stack([frames, frames / 3.0]))).astype(np.float32)
        return {"stimulus": stimulus, "response": response}
