"""Responses: the restricted unpickler, stimulus seeds and trial separation, cell selection, errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from openretina_sridhar_2025.layout import excluded_for
from openretina_sridhar_2025.responses import read_responses
from openretina_sridhar_2025.sample import write_responses

from openretina_core.data import UnsafePickleError


def _pickle(tmp_path: Path, n_cells=5, frames=6, trials=20, repeats=20, seeds=True, test_2d=False) -> Path:
    cells, t, k = np.meshgrid(np.arange(n_cells), np.arange(frames), np.arange(trials), indexing="ij")
    train = (1000 * cells + 10 * k + t / 10).astype(np.float64)  # cell, trial and frame readable from a value
    test = np.broadcast_to(
        (1000 * np.arange(n_cells))[:, None, None] + np.arange(repeats)[None, None], (n_cells, 4, repeats)
    )
    test = test.astype(np.float64) + np.arange(4)[None, :, None] / 10
    path = tmp_path / "cell_responses_01_fixation_movie.pkl"
    separation = {2022: list(range(trials // 2)), 2023: list(range(trials // 2, trials))}
    write_responses(
        path, train, test.mean(axis=2) if test_2d else test, [2022, 2023] if seeds else None, separation
    )
    return path


def test_without_a_listed_seed_session_01_uses_its_first_ten_repeats(tmp_path: Path) -> None:
    read = read_responses(_pickle(tmp_path), "01")
    assert read.trials == tuple(range(20)) and read.test_repeats == tuple(range(10))
    assert (
        read.train.shape == (20 * 6, 5)
        and read.test.shape == (4, 5)
        and read.test_by_trial.shape == (10, 5, 4)
    )
    np.testing.assert_allclose(read.test[:, 0], np.arange(4) / 10 + 4.5)  # mean of repeats 0..9
    other = read_responses(_pickle(tmp_path), "04")  # the rule is session 01's only
    assert other.test_repeats == tuple(range(20))


def test_a_listed_seed_keeps_its_trials_and_repeats(tmp_path: Path) -> None:
    read = read_responses(_pickle(tmp_path), "01", stimulus_seed=2023)
    assert read.trials == tuple(range(10, 20)) and read.test_repeats == tuple(range(10, 20))
    # Time-major, trial after trial: row p * frames + t holds original trial trials[p], frame t.
    train = read.train.reshape(10, 6, 5)
    np.testing.assert_allclose(train[:, :, 0], 10 * np.arange(10, 20)[:, None] + np.arange(6)[None] / 10)
    np.testing.assert_allclose(train[3, 2], 1000 * np.arange(5) + 130.2)
    assert read.seeds == (2022, 2023) and read.meta["trials"] == list(range(10, 20))


def test_files_without_seeds_keep_everything(tmp_path: Path) -> None:
    read = read_responses(_pickle(tmp_path, seeds=False), "01", stimulus_seed=2023)
    assert read.trials == tuple(range(20)) and read.test_repeats == tuple(range(20)) and read.seeds is None


def test_averaged_test_responses_have_no_trials(tmp_path: Path) -> None:
    read = read_responses(_pickle(tmp_path, test_2d=True), "01", stimulus_seed=2022)
    assert read.test_by_trial is None and read.test_repeats is None and read.trials == tuple(range(10))
    np.testing.assert_allclose(read.test[:, 1], 1000 + np.arange(4) / 10 + 9.5)


def test_cells_excluded_or_one_kept(tmp_path: Path) -> None:
    path = _pickle(tmp_path)
    read = read_responses(path, "01", excluded=[3, 0, 3])
    assert read.cell_indices == (1, 2, 4) and read.n_cells == 5
    np.testing.assert_allclose(read.train[0], [1000, 2000, 4000])
    assert read.test_by_trial.shape[1] == 3
    one = read_responses(path, "01", excluded=[1, 2], cell_index=2)
    assert one.cell_indices == (2,) and one.train.shape == (120, 1)
    with pytest.raises(
        ValueError, match=r"excluded_cells for session 01 name cells \[5, 365\] but the file has 5 cells"
    ):
        read_responses(path, "01", excluded=[1, 5, 365])
    with pytest.raises(ValueError, match=r"cell_index 5 is outside 0\.\.4"):
        read_responses(path, "01", cell_index=5)
    with pytest.raises(ValueError, match="removes every one"):
        read_responses(path, "01", excluded=range(5))


def test_published_exclusions_come_from_the_constants() -> None:
    nm, wn = excluded_for("natural_movie", "01", "published"), excluded_for("whitenoise", "01", "published")
    assert len(nm) == 135 and 12 not in nm and 168 not in nm
    assert set(wn) - set(nm) == {12, 168} and len(wn) == 137
    assert excluded_for("natural_movie", "03", "published") == ()
    assert excluded_for("whitenoise", "03", "published") == (), (
        "a session missing from the table excludes none"
    )
    assert excluded_for("natural_movie", "02", {"01": [4]}) == ()
    assert excluded_for("natural_movie", "01", None) == ()
    with pytest.raises(ValueError, match="excluded_cells must be 'published'"):
        excluded_for("natural_movie", "01", "all")


def test_malformed_and_unsafe_pickles_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "cell_responses_02_wn.pkl"
    with open(path, "wb") as handle:
        pickle.dump({"train_responses": np.zeros((2, 3))}, handle)
    with pytest.raises(
        ValueError,
        match=r"cell_responses_02_wn\.pkl: train_responses has shape \(2, 3\).*expected \(neurons, frames_per_trial, n_trials\)",
    ):
        read_responses(path, "02")
    with open(path, "wb") as handle:
        pickle.dump({"train_responses": np.zeros((2, 3, 4))}, handle)
    with pytest.raises(KeyError, match="'test_responses' is missing"):
        read_responses(path, "02")
    with open(path, "wb") as handle:
        pickle.dump({"train_responses": np.zeros((2, 3, 4)), "test_responses": np.zeros((3, 5, 2))}, handle)
    with pytest.raises(ValueError, match="test_responses has 3 cells, train_responses 2"):
        read_responses(path, "02")

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    with open(path, "wb") as handle:
        pickle.dump({"train_responses": Evil()}, handle)
    with pytest.raises(UnsafePickleError):
        read_responses(path, "02")
    with pytest.raises(FileNotFoundError, match="session 03"):
        read_responses(tmp_path / "missing.pkl", "03")
