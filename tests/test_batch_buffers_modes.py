"""Pooled batch buffers under ``torch.inference_mode()`` (Lightning evaluates there) and outside it: a buffer
made in one mode is never handed out in the other (an inference tensor cannot be written outside it)."""

from __future__ import annotations

import torch
from cycler_fixtures import build, first_frames

from openretina_core import LongCycler
from openretina_core.data.batch_buffers import BATCH_BUFFERS


def test_the_same_batches_in_inference_mode_and_in_training(monkeypatch) -> None:
    monkeypatch.setattr(BATCH_BUFFERS, "buffers", [])  # an empty pool: the first buffers are made below
    monkeypatch.setattr(BATCH_BUFFERS, "_by_key", {})
    loaders = build()["train"]
    cycler = LongCycler(loaders, seed=1)
    with torch.inference_mode():
        got = [[first_frames(batch) for _, batch in cycler]]
    assert any(buffer.is_inference() for buffer in BATCH_BUFFERS.buffers)
    for _ in range(2):
        got.append([])
        for _, batch in cycler:  # buffers of the same shapes, outside inference mode
            assert not batch.inputs.is_inference()
            got[-1].append(first_frames(batch))
    reference = LongCycler(loaders, seed=1)
    assert got == [[first_frames(batch) for _, batch in reference] for _ in range(3)]
