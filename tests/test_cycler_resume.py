"""Resumable cyclers: a fresh cycler given ``load_state_dict(state)`` yields exactly the pairs the interrupted
one had not yet delivered, then the same later epochs; in one process, with DataLoader workers and under DDP."""

from __future__ import annotations

import io
import json
import socket
import warnings

import pytest
import torch
from cycler_fixtures import build, ddp_resume_worker, first_frames, take
from test_cyclers_any_loader import elements, make_loader

from openretina_core import LongCycler, ShortCycler


def signature(pairs) -> list:
    return [[key, first_frames(batch)] for key, batch in pairs]


def saved(state: dict) -> dict:
    """Through ``torch.save``/``torch.load`` (weights-only), as a checkpoint holds it."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def epochs(cycler, n: int = 2) -> list[list]:
    return [signature(cycler) for _ in range(n)]


LENGTH = 3 * 11  # three sessions, the longest has 11 batches; session b (4 batches) restarts twice


@pytest.mark.parametrize("cut", [0, 1, 2, 3 * 4, 3 * 4 + 1, 20, LENGTH - 1, LENGTH])
def test_long_cycler_resumes_mid_epoch_with_exactly_the_remaining_batches(cut: int) -> None:
    full = epochs(LongCycler(build()["train"], seed=7), 3)
    assert len(full[0]) == LENGTH
    interrupted = LongCycler(build()["train"], seed=7)
    assert signature([next(iter(interrupted))]) == full[0][:1]  # a whole epoch 0 started, then dropped...
    interrupted = LongCycler(build()["train"], seed=7)
    signature(interrupted)  # ...and epoch 0 run to the end: the state is now epoch 1 at step 0
    head, _ = take(interrupted, cut)
    assert head == full[1][:cut]
    state = saved(interrupted.state_dict())
    assert (state["epoch"], state["step"]) == (1, cut)
    resumed = LongCycler(build()["train"], seed=0, shuffle=False)  # seed and shuffle come from the state
    resumed.load_state_dict(state)
    assert resumed.state_dict()["step"] == cut, "a loaded state is what state_dict() returns until it is used"
    assert signature(resumed) == full[1][cut:]
    assert signature(resumed) == full[2], "the epoch after the resumed one is the uninterrupted run's"


def test_state_between_epochs_and_with_explicit_epochs() -> None:
    cycler = LongCycler(build()["train"], seed=7)
    before = cycler.state_dict()
    assert (before["epoch"], before["step"]) == (0, 0)
    reference = LongCycler(build()["train"], seed=7)
    reference.set_epoch(5)
    expected = signature(reference)
    cycler.set_epoch(5)
    head, _ = take(cycler, 10)
    resumed = LongCycler(build()["train"], seed=7)
    resumed.load_state_dict(cycler.state_dict())
    resumed.set_epoch(5)  # the loop sets the epoch again: the saved place still applies
    assert head + signature(resumed) == expected
    moved_on = LongCycler(build()["train"], seed=7)
    moved_on.load_state_dict(cycler.state_dict())
    moved_on.set_epoch(6)  # another epoch: the saved place is dropped
    assert len(signature(moved_on)) == LENGTH


@pytest.mark.parametrize("cut", [0, 1, 5, 11, 12, 21])
def test_short_cycler_resumes_with_the_remaining_batches(cut: int) -> None:
    reference = ShortCycler(build()["train"])  # 11 + 4 + 7 shuffled batches: each pass differs
    expected = [signature(reference) for _ in range(2)]
    assert len(expected[0]) == 22
    interrupted = ShortCycler(build()["train"])
    head, _ = take(interrupted, cut)
    resumed = ShortCycler(build()["train"])
    resumed.load_state_dict(saved(interrupted.state_dict()))
    assert head + signature(resumed) == expected[0]
    assert signature(resumed) == expected[1], "the next pass is whole again, and the uninterrupted run's"


@pytest.mark.parametrize("cut", [1, 7, 20])
def test_resume_with_dataloader_workers(cut: int) -> None:
    expected = epochs(LongCycler(build()["train"], seed=2), 2)
    loader = LongCycler(build()["train"], seed=2).as_dataloader(num_workers=2)
    head, iterator = take(loader, cut)
    state = saved(loader.state_dict())
    del iterator  # the preempted job's workers are gone
    assert (state["epoch"], state["step"]) == (0, cut)
    cycler = LongCycler(build()["train"], seed=2)
    cycler.load_state_dict(state)
    resumed = cycler.as_dataloader(num_workers=2)
    assert head + signature(resumed) == expected[0], "the main process receives the remaining steps in order"
    assert signature(resumed) == expected[1]
    # a state taken with workers resumes in one process too (and the other way round)
    in_process = LongCycler(build()["train"], seed=2)
    in_process.load_state_dict(state)
    assert signature(in_process) == expected[0][cut:]
    short = ShortCycler(build()["train"]).as_dataloader(num_workers=2)
    head, _iterator = take(short, cut)
    fresh = ShortCycler(build()["train"]).as_dataloader(num_workers=2)
    fresh.load_state_dict(short.state_dict())
    assert head + signature(fresh) == signature(ShortCycler(build()["train"]))


GENERIC = ("sequential", "seeded", "iterable", "custom_batches", "unbatched")


def generic_loaders(kinds) -> dict:
    return {f"s{i}": make_loader(kind, 1000 * (i + 1), 5 + 2 * i, 2) for i, kind in enumerate(kinds)}


def values(pairs) -> list:
    return [(key, elements(batch)) for key, batch in pairs]


@pytest.mark.parametrize("cut", [1, 4, 9, 13, 30, 45, 64])
def test_any_deterministic_loader_resumes_exactly(cut: int) -> None:
    """Every kind of loader whose order the epoch (or its own seeded generator) decides: sequential, seeded
    shuffling (its generator state is saved with the pass it feeds), iterable datasets, custom batch
    samplers, unbatched loaders; restarts included (the unbatched loader has 13 batches, the seeded one 4)."""
    cycler = LongCycler(generic_loaders(GENERIC), seed=1)
    expected = [values(cycler) for _ in range(2)]
    interrupted = LongCycler(generic_loaders(GENERIC), seed=1)
    values(interrupted)
    iterator = iter(interrupted)
    head = values(next(iterator) for _ in range(cut))
    resumed = LongCycler(generic_loaders(GENERIC), seed=1)
    resumed.load_state_dict(saved(interrupted.state_dict()))
    assert head + values(resumed) == expected[1]
    reference = ShortCycler(generic_loaders(GENERIC))
    expected = [values(reference) for _ in range(2)]
    short = ShortCycler(generic_loaders(GENERIC))
    values(short)
    iterator = iter(short)
    head = values(next(iterator) for _ in range(min(cut, len(expected[1]) - 1)))
    again = ShortCycler(generic_loaders(GENERIC))
    again.load_state_dict(saved(short.state_dict()))
    assert head + values(again) == expected[1]


def test_a_state_only_fits_its_own_cycler_and_data() -> None:
    state = LongCycler(build()["train"]).state_dict()
    loaders = build()["train"]
    with pytest.raises(ValueError, match="sessions"):
        LongCycler({k: v for k, v in loaders.items() if k != "a"}).load_state_dict(state)
    with pytest.raises(ValueError, match="not of a ShortCycler"):
        ShortCycler(build()["validation"]).load_state_dict(state)
    from cycler_fixtures import LENGTHS, time_coded_sessions

    from openretina_core import multiple_movies_dataloaders

    movies, responses = time_coded_sessions(LENGTHS)
    other_batch = multiple_movies_dataloaders(
        responses, movies, train_chunk_size=20, batch_size=4, clip_length=100, num_val_clips=2, seed=3
    )
    with pytest.raises(ValueError, match="batches per session changed"):
        LongCycler(other_batch["train"]).load_state_dict(state)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_resume_under_ddp_from_rank_0s_state(tmp_path) -> None:
    torch.multiprocessing.spawn(ddp_resume_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for record in ranks:
        assert record["head"] + record["tail"] == record["reference"]
        assert len(record["tail"]) == len(record["reference"]) - record["cut"] > 0
    assert ranks[0]["reference"] != ranks[1]["reference"], "the ranks have their own shares"
    assert [k for k, _ in ranks[0]["tail"]] == [k for k, _ in ranks[1]["tail"]], "ranks stay in lockstep"


def test_a_state_rewound_by_the_pairs_fetched_ahead_resumes_before_them() -> None:
    """What a consumer that fetched ahead of using its batches saves (``RetinaDataModule`` does)."""
    from openretina_core.data.cycler_state import rewind_state

    expected = signature(LongCycler(build()["train"], seed=4))
    interrupted = LongCycler(build()["train"], seed=4)
    head, _ = take(interrupted, 13)  # 13 delivered, the last 2 not used yet
    state = rewind_state(interrupted.state_dict(), [head[-2][0], head[-1][0]])
    assert state["step"] == 11
    resumed = LongCycler(build()["train"], seed=4)
    resumed.load_state_dict(state)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewound per-session counts still match the step
        assert head[:11] + signature(resumed) == expected
    with pytest.raises(ValueError, match="cannot rewind"):
        rewind_state(state, ["a"] * 12)
