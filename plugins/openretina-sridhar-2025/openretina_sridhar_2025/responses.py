"""Responses: the per-session pickles through the restricted unpickler, seeds, trial separation and cells.

A pickle holds ``train_responses`` ``(neurons, frames_per_trial, n_trials)``, ``test_responses``
``(neurons, T_test, repeats)`` (or already averaged, ``(neurons, T_test)``), and optionally ``seeds`` (a list)
and ``trial_separation`` (seed -> trial indices). ``stimulus_seed`` in ``seeds`` keeps only that seed's trials
(training trials and test repeats); otherwise session 01 is evaluated on its first ten repeats (its 2022 and
2023 test responses differ). Cells: ``cell_index`` keeps one, else the session's ``excluded_cells`` are
dropped; ``cell_indices`` records the original indices kept.

The result is written once to the core's prepared store, time-major (train ``(trials * frames, N)``, test
``(T_test, N)``, per-trial test ``(repeats, N, T_test)``) and mapped on every later load.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import define, evolve

from openretina_core import BadDataError
from openretina_sridhar_2025.background import BackgroundWrite, anonymous_array, probe_entry
from openretina_sridhar_2025.constants import DATASET_ID, FIRST_TEST_REPEATS, RESPONSE_FORMAT_VERSION

logger = logging.getLogger(__name__)


@define(frozen=True, eq=False)
class SessionResponses:
    """One session's responses, time-major, with what was selected.

    ``train`` ``(len(trials) * frames_per_trial, N)``: the kept trials in order; ``test`` ``(T_test, N)``, the
    mean over ``test_by_trial`` ``(repeats, N, T_test)`` (None when the file holds averaged responses only).
    ``trials`` are original indices along the pickle's trial axis; ``n_trials`` is that axis' length.
    """

    train: np.ndarray
    test: np.ndarray
    test_by_trial: np.ndarray | None
    trials: tuple[int, ...]
    n_trials: int
    frames_per_trial: int
    cell_indices: tuple[int, ...]
    n_cells: int
    test_repeats: tuple[int, ...] | None
    seeds: tuple[int, ...] | None

    @property
    def meta(self) -> dict[str, Any]:
        return {
            "trials": list(self.trials),
            "n_trials": self.n_trials,
            "frames_per_trial": self.frames_per_trial,
            "cell_indices": list(self.cell_indices),
            "n_cells": self.n_cells,
            "test_repeats": None if self.test_repeats is None else list(self.test_repeats),
            "seeds": None if self.seeds is None else list(self.seeds),
        }


def _array(
    data: Mapping[str, Any], key: str, path: Path, ndims: tuple[int, ...], expected: str
) -> np.ndarray:
    if key not in data:
        raise KeyError(f"{path}: key {key!r} is missing; the pickle holds {sorted(map(str, data))}")
    array = np.asarray(data[key])
    if array.ndim not in ndims or array.dtype.kind not in "uifb":
        raise BadDataError(
            f"{path}: {key} has shape {array.shape} and dtype {array.dtype}, expected {expected}"
        )
    return array


def select_cells(
    n_cells: int, session: str, excluded: Sequence[int], cell_index: int | None, path: Path
) -> np.ndarray:
    """Original indices of the cells kept: ``[cell_index]``, or every cell not in ``excluded``."""
    if cell_index is not None:
        if not 0 <= int(cell_index) < n_cells:
            raise BadDataError(
                f"{path}: cell_index {cell_index} is outside 0..{n_cells - 1} (session {session})"
            )
        return np.array([int(cell_index)])
    drop = np.asarray(sorted(set(int(c) for c in excluded)), dtype=np.int64)
    if drop.size and (drop.min() < 0 or drop.max() >= n_cells):
        outside = drop[(drop < 0) | (drop >= n_cells)].tolist()
        raise BadDataError(
            f"{path}: excluded_cells for session {session} name cells {outside[:10]} but the file has "
            f"{n_cells} cells; pass excluded_cells={{'{session}': [...]}} for this file (or None)"
        )
    keep = np.setdiff1d(np.arange(n_cells), drop)
    if keep.size == 0:
        raise BadDataError(
            f"{path}: excluded_cells removes every one of the {n_cells} cells of session {session}"
        )
    return keep


def _seed_trials(data: Mapping[str, Any], stimulus_seed: int, path: Path) -> list[int] | None:
    """The trials of ``stimulus_seed`` when the file separates trials by seed and lists it, else None."""
    seeds = [int(s) for s in np.atleast_1d(np.asarray(data["seeds"]))]
    if int(stimulus_seed) not in seeds:
        return None
    separation = data.get("trial_separation")
    if not isinstance(separation, Mapping):
        raise KeyError(
            f"{path}: lists seeds {seeds} but has no trial_separation dict (seed -> trial indices)"
        )
    for key in (int(stimulus_seed), str(stimulus_seed)):
        if key in separation:
            return [int(t) for t in np.atleast_1d(np.asarray(separation[key]))]
    raise KeyError(
        f"{path}: trial_separation has no entry for seed {stimulus_seed} (keys {list(separation)})"
    )


_BLOCK_BYTES = 2 << 20  # source bytes reordered at once: blocks that stay in the cache while transposed


def _time_major(source: np.ndarray, cells: np.ndarray, trials: Sequence[int], out: np.ndarray) -> None:
    """``out[k, t, c] = source[cells[c], t, trials[k]]``: the pickle's ``(neurons, frames, trials)`` time-major,
    a block of frames at a time (each block is read once, in order, and transposed while in the cache: 0.5 s ->
    0.1 s for 231 of 366 cells x 7,650 frames x 20 trials, against one strided gather per trial)."""
    keep = np.asarray(trials, dtype=np.int64)
    every = keep.size == source.shape[2] and bool(np.all(keep == np.arange(source.shape[2])))
    step = max(1, _BLOCK_BYTES // max(1, source.shape[0] * source.shape[2] * source.itemsize))
    for t0 in range(0, source.shape[1], step):
        block = np.take(source[:, t0 : t0 + step], cells, axis=0)  # (cells, frames, all trials)
        if not every:
            block = block[:, :, keep]
        out[:, t0 : t0 + step] = block.transpose(2, 1, 0)


def _repeat_major(source: np.ndarray, cells: np.ndarray, repeats: Sequence[int], out: np.ndarray) -> None:
    """``out[r, c, t] = source[cells[c], t, repeats[r]]``, a block of cells at a time (as ``_time_major``)."""
    keep = np.asarray(repeats, dtype=np.int64)
    step = max(1, _BLOCK_BYTES // max(1, source.shape[1] * source.shape[2] * source.itemsize))
    for c0 in range(0, len(cells), step):
        block = source[cells[c0 : c0 + step]][:, :, keep]  # (cells, T_test, repeats)
        out[:, c0 : c0 + step] = block.transpose(2, 0, 1)


def read_responses(
    path: str | Path,
    session: str,
    *,
    stimulus_seed: int = 0,
    excluded: Sequence[int] = (),
    cell_index: int | None = None,
    sha256: str | None = None,
    allocate: Callable[[str, tuple[int, ...]], np.ndarray] | None = None,
) -> SessionResponses:
    """Read one pickle with the restricted unpickler (after the hash check when ``sha256`` is known).

    ``allocate(name, shape)`` gives the float32 arrays to fill (``train``, ``test``, ``test_by_trial``; new
    in-memory arrays by default), so the prepared store's files are filled directly."""
    from openretina_core.data import load_pickle

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"response file {str(path)!r} of session {session} does not exist")
    data = load_pickle(path, sha256=sha256)
    if not isinstance(data, Mapping):
        raise BadDataError(f"{path}: expected a dict of arrays, found {type(data).__name__}")
    train = _array(data, "train_responses", path, (3,), "(neurons, frames_per_trial, n_trials)")
    test = _array(data, "test_responses", path, (2, 3), "(neurons, T_test, repeats) or (neurons, T_test)")
    n_cells, frames_per_trial, n_trials = (int(v) for v in train.shape)
    if test.shape[0] != n_cells:
        raise BadDataError(f"{path}: test_responses has {test.shape[0]} cells, train_responses {n_cells}")
    cells = select_cells(n_cells, session, excluded, cell_index, path)
    trials = list(range(n_trials))
    repeats: list[int] | None = list(range(test.shape[2])) if test.ndim == 3 else None
    seeds = None
    if "seeds" in data:
        seeds = tuple(int(s) for s in np.atleast_1d(np.asarray(data["seeds"])))
        chosen = _seed_trials(data, stimulus_seed, path)
        if chosen is not None:
            bad = [t for t in chosen if not 0 <= t < n_trials]
            if bad:
                raise BadDataError(
                    f"{path}: trial_separation[{stimulus_seed}] names trials {bad} of {n_trials}"
                )
            trials = chosen
            if repeats is not None:
                if max(chosen) >= len(repeats):
                    raise BadDataError(
                        f"{path}: trial_separation[{stimulus_seed}] names repeat {max(chosen)} but the test "
                        f"responses have {len(repeats)} repeats"
                    )
                repeats = chosen
            else:
                logger.info(
                    "%s: test responses are already averaged; seed %s keeps them", path, stimulus_seed
                )
        elif session in FIRST_TEST_REPEATS and repeats is not None:
            repeats = repeats[: FIRST_TEST_REPEATS[session]]
    allocate = allocate or (lambda name, shape: np.empty(shape, dtype=np.float32))
    train_tm = allocate("train", (len(trials) * frames_per_trial, len(cells)))
    _time_major(train, cells, trials, train_tm.reshape(len(trials), frames_per_trial, len(cells)))
    mean = allocate("test", (test.shape[1], len(cells)))
    by_trial = None
    if repeats is not None:
        by_trial = allocate("test_by_trial", (len(repeats), len(cells), test.shape[1]))
        _repeat_major(test, cells, repeats, by_trial)
        mean[:] = by_trial.mean(axis=0, dtype=np.float64).T
    else:
        mean[:] = test[cells].T
    return SessionResponses(
        train=train_tm,
        test=mean,
        test_by_trial=by_trial,
        trials=tuple(trials),
        n_trials=n_trials,
        frames_per_trial=frames_per_trial,
        cell_indices=tuple(int(c) for c in cells),
        n_cells=n_cells,
        test_repeats=None if repeats is None else tuple(repeats),
        seeds=seeds,
    )


def prepared_responses(
    path: Path,
    session: str,
    stim_type: str,
    *,
    stimulus_seed: int,
    excluded: Sequence[int],
    cell_index: int | None,
    use_store: bool,
    writes: list[BackgroundWrite] | None = None,
) -> SessionResponses:
    """``read_responses`` through the prepared store (mapped when an entry for these options exists). With
    ``writes``, a new entry is read into memory and written in a thread (appended to ``writes``; see
    ``background.py``): 240 MB of mapped store pages cost 0.6-1.0 s on a machine throttling dirty pages."""
    kwargs = {"stimulus_seed": stimulus_seed, "excluded": excluded, "cell_index": cell_index}
    if not use_store:
        return read_responses(path, session, **kwargs)  # type: ignore[arg-type]
    from openretina_core.store import prepare_entry

    def build(writer: Any) -> None:
        def allocate(name: str, shape: tuple[int, ...]) -> np.ndarray:
            return writer.allocate(name, shape, np.float32)

        read = read_responses(path, session, allocate=allocate, **kwargs)  # type: ignore[arg-type]
        writer.user_meta.update(read.meta)

    params = {
        "kind": "responses",
        "stim_type": stim_type,
        "stimulus_seed": int(stimulus_seed),
        "excluded": sorted(set(int(c) for c in excluded)) if cell_index is None else None,
        "cell_index": cell_index,
    }
    name = f"{stim_type}-{session}-responses"
    entry = None
    if writes is not None:
        entry, strict, writable = probe_entry(DATASET_ID, name, params, [path], RESPONSE_FORMAT_VERSION)
        if entry is None and not strict and writable:
            read = read_responses(
                path,
                session,
                allocate=lambda _, shape: anonymous_array(shape, np.float32),
                **kwargs,  # type: ignore[arg-type]
            )
            read = evolve(
                read,
                train=_checked_finite(read.train),
                test=_checked_finite(read.test),
                test_by_trial=None if read.test_by_trial is None else _checked_finite(read.test_by_trial),
            )
            writes.append(_written_in_background(name, params, path, read))
            return read
    if entry is None:
        entry = prepare_entry(
            DATASET_ID, name, params=params, sources=[path], build=build, version=RESPONSE_FORMAT_VERSION
        )
    meta = entry.user_meta
    return SessionResponses(
        train=entry["train"],
        test=entry["test"],
        test_by_trial=entry.arrays.get("test_by_trial"),
        trials=tuple(meta["trials"]),
        n_trials=int(meta["n_trials"]),
        frames_per_trial=int(meta["frames_per_trial"]),
        cell_indices=tuple(meta["cell_indices"]),
        n_cells=int(meta["n_cells"]),
        test_repeats=None if meta["test_repeats"] is None else tuple(meta["test_repeats"]),
        seeds=None if meta["seeds"] is None else tuple(meta["seeds"]),
    )


def _checked_finite(array: np.ndarray) -> np.ndarray:
    """``array`` flagged ``verified_finite`` (as a mapped entry's arrays are) when a finite sum proves it: the
    NaN policy then skips its scan, 0.5 s for session 01's transposed views. Arrays with NaN stay unflagged."""
    from openretina_core.store import PreparedArray

    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isfinite(np.add.reduce(array, axis=None)):
            return array
    flagged = array.view(PreparedArray)
    flagged.verified_finite = True
    return flagged


def _written_in_background(
    name: str, params: dict[str, Any], path: Path, read: SessionResponses
) -> BackgroundWrite:
    from openretina_core.store import prepare_entry

    arrays = {"train": read.train, "test": read.test}
    if read.test_by_trial is not None:
        arrays["test_by_trial"] = read.test_by_trial

    def build(writer: Any) -> None:
        for array, values in arrays.items():
            writer.put(array, values, np.float32)
        writer.user_meta.update(read.meta)

    def write() -> Any:
        return prepare_entry(
            DATASET_ID,
            name,
            params=params,
            sources=[path],
            build=build,
            version=RESPONSE_FORMAT_VERSION,
            memory_fallback=False,
        )

    return BackgroundWrite(name, write, sum(int(a.nbytes) for a in arrays.values())).start()
