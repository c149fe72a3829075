"""Helpers shared by the cycler tests and their worker processes (importable by spawned children)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from openretina_core import (
    LongCycler,
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    ShortCycler,
    multiple_movies_dataloaders,
)


def time_coded_sessions(lengths: dict[str, int]) -> tuple[dict, dict]:
    """Sessions whose movie pixels and responses hold the frame index plus a per-session offset."""
    movies, responses = {}, {}
    for i, (name, t) in enumerate(sorted(lengths.items())):
        frames = np.arange(t, dtype=np.float32) + 100_000 * (i + 1)
        movies[name] = MoviesTrainTestSplit(
            train=frames[None, :, None, None].repeat(2, axis=2),
            test_dict={"test": frames[None, :120, None, None].repeat(2, axis=2)},
        )
        responses[name] = ResponsesTrainTestSplit(
            train=frames[None].repeat(2, axis=0), test_dict={"test": frames[None, :120].repeat(2, axis=0)}
        )
    return movies, responses


LENGTHS = {"a": 2000, "b": 900, "c": 1400}


def build(distributed: bool | None = None):
    movies, responses = time_coded_sessions(LENGTHS)
    return multiple_movies_dataloaders(
        responses,
        movies,
        train_chunk_size=20,
        batch_size=8,
        clip_length=100,
        num_val_clips=2,
        seed=3,
        distributed=distributed,
    )


def first_frames(batch) -> list[int]:
    inputs, _targets = batch
    return [int(v) for v in inputs[:, 0, :, 0, 0].reshape(-1).tolist()]


def ddp_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        loaders = build()
        record: dict = {"train": [], "eval": []}
        cycler = LongCycler(loaders["train"], shuffle=True, seed=11)
        for epoch in range(2):
            cycler.set_epoch(epoch)
            record["train"].append([[key, first_frames(batch)] for key, batch in cycler])
        record["len"] = len(cycler)
        record["loader_lens"] = {k: len(v) for k, v in loaders["train"].items()}
        record["eval"] = [[key, first_frames(batch)] for key, batch in ShortCycler(loaders["validation"])]
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(record))
    finally:
        torch.distributed.destroy_process_group()


def take(iterable, n: int) -> tuple[list, object]:
    """The first ``n`` ``(key, first frames)`` pairs of ``iterable``, leaving it suspended after them."""
    iterator = iter(iterable)
    return [[key, first_frames(batch)] for key, batch in (next(iterator) for _ in range(n))], iterator


def ddp_resume_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """Each rank: one uninterrupted epoch, then the same epoch cut after ``cut`` steps, rank 0's state saved
    to disk, and on every rank a fresh cycler (freshly built loaders) resumed from it."""
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        full = LongCycler(build()["train"], seed=11)
        full.set_epoch(3)
        reference = [[key, first_frames(batch)] for key, batch in full]
        cut = len(reference) // 2 + 1
        interrupted = LongCycler(build()["train"], seed=11)
        interrupted.set_epoch(3)
        head, _suspended = take(interrupted, cut)
        if rank == 0:  # as a Lightning checkpoint: rank 0 writes it, every rank loads it
            torch.save(interrupted.state_dict(), Path(out_dir, "state.pt"))
        dist.barrier()
        resumed = LongCycler(build()["train"], seed=0)  # the state brings the seed
        resumed.load_state_dict(torch.load(Path(out_dir, "state.pt")))
        resumed.set_epoch(3)  # a training loop sets the epoch again: the saved place still applies
        tail = [[key, first_frames(batch)] for key, batch in resumed]
        record = {"reference": reference, "head": head, "tail": tail, "cut": cut}
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(record))
    finally:
        dist.destroy_process_group()
