"""Train/validation splits by trial.

A permutation of the session's (kept) trials is cut at ``int(n * train_frac)``: the first part trains, the rest
validates. Trials with repeated content (``PAIRED_TRIALS``, original indices) must fall into one split, so a
permutation that separates a pair is drawn again. ``final_training`` merges validation into train; as in
openretina the validation trials are still returned (and served), so monitoring code keeps working, but they
are no longer held out.

``split="seeded"`` (ours): permutations from ``np.random.default_rng(seed)``, both parts sorted.
``split="openretina"``: openretina's draw exactly, without touching global random state: it seeds numpy's
global generator with ``seed`` (1000 when none is given) and calls ``np.random.permutation`` until the pairs are
together, which is the same stream as ``np.random.RandomState(seed).permutation``; both parts keep the drawn
order (openretina's validation loader serves trials in that order). openretina tests its pairs on positions of
the (seed-restricted) trial axis, ours on original indices; the two agree for the published seed separation
(trials 0-9 and 10-19), where a restricted 2023 run's positions 0 and 9 are original trials 10 and 19.

``hard_coded=(train, validation)`` gives the trials (positions) instead, and ``num_of_trials_to_use`` /
``start_using_trial`` keep only positions in ``[start, start + num)`` of both parts afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from attrs import define

from openretina_core import BadDataError
from openretina_core.registry import check_int
from openretina_sridhar_2025.constants import PAIRED_TRIALS, SPLITS

_MAX_DRAWS = 10_000


@define(frozen=True)
class TrialSplit:
    """Positions along the session's kept trials (``train``, ``validation``) and their original indices."""

    train: tuple[int, ...]
    validation: tuple[int, ...]
    original: tuple[int, ...]  # original trial index of each position

    @property
    def train_trials(self) -> list[int]:
        return [self.original[p] for p in self.train]

    @property
    def validation_trials(self) -> list[int]:
        return [self.original[p] for p in self.validation]


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise BadDataError(f"split must be one of {SPLITS}, received {split!r}")
    return split


def _separates_pairs(train: np.ndarray, validation: np.ndarray, original: Sequence[int]) -> bool:
    train_set = {original[p] for p in train.tolist()}
    val_set = {original[p] for p in validation.tolist()}
    return any(
        (a in train_set and b in val_set) or (b in train_set and a in val_set) for a, b in PAIRED_TRIALS
    )


def split_trials(
    original: Sequence[int],
    *,
    train_frac: float = 0.8,
    seed: int = 1000,
    split: str = "seeded",
    final_training: bool = False,
    hard_coded: tuple[Sequence[int], Sequence[int]] | None = None,
    num_of_trials_to_use: int | None = None,
    start_using_trial: int = 0,
) -> TrialSplit:
    """Split the positions ``0 .. len(original) - 1`` of the session's kept trials (see the module doc)."""
    check_split(split)
    check_int("seed", seed, 0)  # named, not numpy's message from deep inside the draw
    n = len(original)
    if not 0.0 < train_frac <= 1.0:
        raise BadDataError(f"train_frac must lie in (0, 1], got {train_frac}")
    if hard_coded is not None:
        train = np.asarray(list(hard_coded[0]), dtype=np.int64)
        validation = np.asarray(list(hard_coded[1]), dtype=np.int64)
        both = np.concatenate([train, validation])
        if both.size and (both.min() < 0 or both.max() >= n):
            raise BadDataError(f"hard_coded trials must lie in [0, {n}), got {both.tolist()}")
        if np.intersect1d(train, validation).size:
            raise BadDataError(
                f"hard_coded train and validation share trials {np.intersect1d(train, validation)}"
            )
    else:
        cut = int(n * train_frac)
        rng_legacy = np.random.RandomState(seed) if split == "openretina" else None
        rng = np.random.default_rng(seed)
        for _ in range(_MAX_DRAWS):
            order = rng_legacy.permutation(n) if rng_legacy is not None else rng.permutation(n)
            train, validation = order[:cut], order[cut:]
            if not _separates_pairs(train, validation, original):
                break
        else:
            raise BadDataError(
                f"no split of {n} trials with train_frac={train_frac} keeps the paired trials {PAIRED_TRIALS} "
                f"together; choose another train_frac or pass hard_coded=(train, validation)"
            )
        if split == "seeded":
            train, validation = np.sort(train), np.sort(validation)
    if final_training:  # as openretina: validation trials also train (and are still served for monitoring)
        train = np.concatenate([train, validation])
        train = np.sort(train) if split == "seeded" and hard_coded is None else train
    if num_of_trials_to_use is not None or start_using_trial:
        stop = min(n, (num_of_trials_to_use if num_of_trials_to_use is not None else n) + start_using_trial)
        train = train[(train >= start_using_trial) & (train < stop)]
        validation = validation[(validation >= start_using_trial) & (validation < stop)]
    if len(train) == 0:
        raise BadDataError(
            f"no training trials are left of {n} (train_frac={train_frac}, trial window options)"
        )
    return TrialSplit(
        tuple(int(t) for t in train), tuple(int(t) for t in validation), tuple(int(t) for t in original)
    )
