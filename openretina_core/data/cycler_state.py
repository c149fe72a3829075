"""Where a cycler stands in its epoch, as a plain ``state_dict`` a fresh cycler resumes from.

A cycler's stream is a pure function of its seed, its epoch and its loaders' samplers, so its place in an epoch
is just a count: how many ``(session, batch)`` pairs the consumer has received. Resuming recomputes the same
plan and starts after those pairs, without fetching them (for loaders whose batches can be skipped by their
indices). What the count cannot reproduce is a sampler's private random state: a ``torch.Generator`` owned by
a loader or its sampler is saved at the start of the pass it feeds and restored on resume.

The state is a dict of ints, strings, lists and CPU tensors (``torch.save`` and Lightning checkpoints hold it
as is) and names the sessions and their batch counts, so a state is never applied to other data.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from attrs import define, field

from openretina_core.data.cycler_passes import generators_of

STATE_VERSION = 1

logger = logging.getLogger(__name__)


@define(frozen=True)
class SavedGenerators:
    """The states of a loader's generators at the start of its pass ``pass_index`` of the epoch."""

    pass_index: int
    states: list[torch.Tensor]


@define
class Progress:
    """The iteration in flight: its epoch, the pairs delivered so far (in all and per session) and each
    loader's saved generator states with the pass they were taken at (the start of that pass; in workers,
    once at the start of the epoch)."""

    epoch: int
    step: int = 0
    consumed: Counter[str] = field(factory=Counter)
    generators: dict[str, SavedGenerators] = field(factory=dict)

    def note(self, key: str) -> None:
        self.step += 1
        self.consumed[key] += 1


@define(frozen=True)
class ResumePoint:
    """A loaded state, applied to the next iteration of the epoch it was taken in."""

    epoch: int
    step: int
    consumed: dict[str, int]
    generators: dict[str, SavedGenerators]


def capture_generators(loader: Any, pass_index: int = 0) -> SavedGenerators:
    return SavedGenerators(pass_index, [generator.get_state() for generator in generators_of(loader)])


def restore_generators(loader: Any, saved: SavedGenerators) -> None:
    for generator, state in zip(generators_of(loader), saved.states):
        generator.set_state(state)


def round_robin_counts(order: list[str], step: int) -> dict[str, int]:
    """How many of the first ``step`` round-robin steps over ``order`` went to each session."""
    full, rest = divmod(step, len(order))
    return {key: full + (1 if i < rest else 0) for i, key in enumerate(order)}


def make_state(
    kind: str,
    loaders: Mapping[str, Any],
    lengths: Mapping[str, int] | None,
    progress: Progress,
    **settings: Any,
) -> dict[str, Any]:
    return {
        "cycler": kind,
        "version": STATE_VERSION,
        "sessions": sorted(loaders),
        "lengths": dict(lengths) if lengths is not None else None,
        "epoch": progress.epoch,
        "step": progress.step,
        "consumed": dict(sorted(progress.consumed.items())),
        "generators": {
            key: {"pass": saved.pass_index, "states": [state.clone() for state in saved.states]}
            for key, saved in sorted(progress.generators.items())
            if saved.states
        },
        **settings,
    }


def read_state(
    state: Mapping[str, Any], kind: str, loaders: Mapping[str, Any], lengths: Mapping[str, int] | None
) -> ResumePoint:
    """Check that ``state`` belongs to a ``kind`` cycler over these sessions and batch counts."""
    if state.get("cycler") != kind:
        raise ValueError(f"this is a state of a {state.get('cycler')!r}, not of a {kind}")
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"cycler state version {state.get('version')!r}; this version reads {STATE_VERSION}")
    if list(state["sessions"]) != sorted(loaders):
        raise ValueError(
            f"the state was taken over sessions {list(state['sessions'])}, this cycler has {sorted(loaders)}"
        )
    saved = state.get("lengths")
    if lengths is not None and saved is not None and dict(saved) != dict(lengths):
        changed = sorted(k for k in lengths if saved.get(k) != lengths[k])
        raise ValueError(
            f"batches per session changed since the state was taken ({', '.join(changed)}: "
            f"{[saved.get(k) for k in changed]} then, {[lengths[k] for k in changed]} now): the same data, "
            f"batch size and world size are needed to resume"
        )
    return ResumePoint(
        epoch=int(state["epoch"]),
        step=int(state["step"]),
        consumed={str(k): int(v) for k, v in state["consumed"].items()},
        generators={
            str(k): SavedGenerators(int(v["pass"]), list(v["states"])) for k, v in state["generators"].items()
        },
    )


class Resumable:
    """What makes a cycler resumable; the cycler classes mix it in and fill in the hooks at the end
    (its sessions' batch counts, its settings, and the progress a resumed iteration starts from)."""

    kind = "cycler"
    loaders: dict[str, Any]
    epoch: int
    _explicit_epoch: bool
    _progress: Progress | None
    _resume: ResumePoint | None

    def state_dict(self) -> dict[str, Any]:
        """Where the consumer stands: the epoch in flight and how many pairs it has received (or, between
        epochs, the next epoch at step 0), with the seed, the sessions and their batch counts. With DataLoader
        workers, iterate through :meth:`as_dataloader`, which counts the pairs in the main process."""
        if self._progress is not None:
            progress = self._progress
        elif self._resume is not None:
            point = self._resume
            progress = Progress(point.epoch, point.step, Counter(point.consumed), dict(point.generators))
        else:
            generators = {key: capture_generators(loader) for key, loader in self.loaders.items()}
            progress = Progress(self.epoch, generators=generators)
        return make_state(self.kind, self.loaders, self._lengths(), progress, **self._settings())

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state_dict`: the next iteration of the saved epoch starts after the pairs
        already delivered (``set_epoch`` to another epoch discards the saved place). The loaders must be the
        same sessions with the same batch counts (same data, batch size and world size)."""
        point = read_state(state, self.kind, self.loaders, self._lengths())
        self._load_settings(state)
        self.epoch = point.epoch
        self._explicit_epoch = False
        self._resume = point
        self._progress = None

    def _lengths(self) -> dict[str, int] | None:
        return None

    def _settings(self) -> dict[str, Any]:
        return {}

    def _load_settings(self, state: Mapping[str, Any]) -> None:
        pass

    def _take_resume(self, epoch: int, keep: bool = False) -> ResumePoint | None:
        point = self._resume
        if not keep:
            self._resume = None
        if point is not None and point.epoch != epoch:
            logger.info(
                "cycler state of epoch %d not applied: this iteration is epoch %d", point.epoch, epoch
            )
            return None
        return point

    def _new_progress(self, epoch: int, point: ResumePoint | None) -> Progress:
        raise NotImplementedError

    def _begin_in_main(self, epoch: int) -> Progress:
        """Before DataLoader workers start on ``epoch``: the progress the main process counts, with every
        loader's generators restored (the workers inherit them) and saved at the start of the epoch."""
        point = self._take_resume(epoch, keep=True)
        progress = self._new_progress(epoch, point)
        for key, loader in self.loaders.items():
            if point is not None and key in point.generators:
                restore_generators(loader, point.generators[key])
            progress.generators[key] = capture_generators(loader)
        self._progress = progress
        return progress

    def _counted(self, items: Iterator[tuple[str, Any]], progress: Progress) -> Iterator[tuple[str, Any]]:
        self._progress = progress
        for item in items:
            progress.note(item[0])
            yield item
        if self._progress is progress:
            self._progress = None


def rewind_state(state: Mapping[str, Any], keys: list[str]) -> dict[str, Any]:
    """``state`` as it was before the last ``len(keys)`` pairs (whose sessions ``keys`` lists, oldest first)
    were delivered: for a consumer that took batches ahead of using them (Lightning prefetches one)."""
    out = dict(state)
    if not keys:
        return out
    consumed = Counter(state["consumed"])
    consumed.subtract(keys)
    if min(consumed.values(), default=0) < 0 or len(keys) > state["step"]:
        raise ValueError(f"cannot rewind {len(keys)} pairs: the state holds only {state['step']}")
    out["step"] = int(state["step"]) - len(keys)
    out["consumed"] = {key: n for key, n in sorted(consumed.items()) if n}
    return out
