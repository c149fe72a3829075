"""End to end: alignment on samples whose frames encode their fixation line (or trial and frame), the prepared
store's reuse and invalidation, receptive-field locations, STA recovery, and errors for inconsistent files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from openretina_sridhar_2025 import wait_for_store_writes
from openretina_sridhar_2025.constants import FIXATION_FILES, RESPONSE_FILES, WN_TEST_DIRS, WN_TRAIN_DIRS
from openretina_sridhar_2025.sample import (
    write_fixation_file,
    write_images,
    write_responses,
    write_sample,
    write_wn_trials,
)

import openretina_core as orc
from openretina_core.data import filter_correlation, spike_triggered_average
from openretina_core.store import list_entries

N_IMAGES = 30
TEST = 120


def encoded_natural_movie(root: Path, n_trials: int = 20, frames: int = 150, seeds: bool = True) -> Path:
    """Session 01: image ``k`` holds ``k * 1000 + x`` at column x; fixation line ``L`` shows image ``L % 30``
    centred at x ``50 + (L // 30) % 151``, so a frame's first pixel tells its line; responses of cell ``n`` at a
    frame are ``line + 100000 n``."""
    folder = root / "natural_movie"
    x = np.arange(350, dtype=np.float32)[:, None]
    write_images(
        folder / "stimuli_padded_4",
        np.stack([np.broadcast_to(k * 1000 + x, (350, 300)) for k in range(N_IMAGES)]),
    )
    lines = np.arange(TEST + n_trials * frames + 40)  # more lines than needed: allowed
    rng = np.random.default_rng(0)
    write_fixation_file(
        folder / FIXATION_FILES["01"],
        lines % N_IMAGES,
        50 + (lines // N_IMAGES) % 151,
        rng.integers(25, 176, len(lines)),
        rng.integers(0, 2, len(lines)),
    )
    cells = 100000.0 * np.arange(3)
    train = (
        TEST
        + np.arange(n_trials)[None, None] * frames
        + np.arange(frames)[None, :, None]
        + cells[:, None, None]
    )
    test = np.broadcast_to((np.arange(TEST)[None] + cells[:, None])[..., None], (3, TEST, n_trials))
    separation = {2022: list(range(n_trials // 2)), 2023: list(range(n_trials // 2, n_trials))}
    write_responses(
        folder / RESPONSE_FILES["natural_movie"]["01"],
        train,
        np.ascontiguousarray(test),
        [2022, 2023] if seeds else None,
        separation,
    )
    return root


def decode_lines(inputs) -> np.ndarray:
    """Fixation line of every input frame ``(B, T)`` (from its first pixel: image * 1000 + centre_x + 5)."""
    value = np.rint(inputs[:, 0, :, 0, 0].numpy().astype(np.float64) * 255).astype(np.int64)
    image, cx = value // 1000, value % 1000 - 5
    return image + N_IMAGES * (cx - 50)


OPTIONS = {"test_frames": TEST, "excluded_cells": None, "time_chunk_size": 20, "batch_size": 4}


@pytest.mark.parametrize(("num_of_frames", "overhead"), [(1, 0), (11, 10), ([5, 4, 3], 4 + 3 + 2)])
@pytest.mark.parametrize("stimulus_seed", [0, 2023])
def test_natural_movie_targets_align_with_the_last_input_frames(
    tmp_path, num_of_frames, overhead, stimulus_seed
) -> None:
    """Every sample of every split: targets are the responses to the last time_chunk_size input frames; seed
    2023 keeps original trials 10..19, rendered from their own fixation lines."""
    root = encoded_natural_movie(tmp_path)
    loaders = orc.get_dataloaders(
        "sridhar_2025", data_dir=root, num_of_frames=num_of_frames, stimulus_seed=stimulus_seed, **OPTIONS
    )
    assert loaders.data_info["frame_overhead"] == overhead
    trials = list(range(10, 20)) if stimulus_seed == 2023 else list(range(20))
    seen: dict[str, set[int]] = {"train": set(), "validation": set()}
    for split in ("train", "validation", "test"):
        for inputs, targets in loaders[split]["01"]:
            assert inputs.shape[2] == 20 + overhead and targets.shape[1] == 20
            lines = decode_lines(inputs)
            np.testing.assert_array_equal(targets[:, :, 0].numpy(), lines[:, overhead:])
            np.testing.assert_array_equal(targets[:, :, 2].numpy(), lines[:, overhead:] + 200000)
            assert (np.diff(lines, axis=1) == 1).all(), "consecutive frames of one trial"
            trial = (lines[:, 0] - TEST) // 150
            if split == "test":
                assert (lines < TEST).all()
            else:
                assert ((lines[:, -1] - TEST) // 150 == trial).all(), "no sample crosses a trial"
                seen[split] |= set(trial.tolist())
    info = loaders.data_info
    assert seen["train"] == set(info["train_trials"]["01"]) and seen["validation"] == set(
        info["val_trials"]["01"]
    )
    assert sorted(seen["train"] | seen["validation"]) == trials and not seen["train"] & seen["validation"]
    test = loaders["test"]["01"].dataset
    assert test.movies.shape == (1, TEST, 80, 90) and test.responses.shape == (TEST, 3)
    assert tuple(test.test_responses_by_trial.shape) == (10, 3, TEST), (
        "(repeats, neurons, T) for every dataset"
    )


def encoded_white_noise(root: Path, n_trials: int = 12, frames: int = 90, session: str = "04") -> Path:
    """Trial ``k``'s frame ``t`` is ``10000 (k + 1) + t`` everywhere; the test frame ``t`` is ``t``; responses
    encode the same numbers."""
    folder = root / "whitenoise"
    t = np.arange(frames, dtype=np.int32)
    write_wn_trials(
        folder / WN_TRAIN_DIRS[session],
        [np.broadcast_to(10000 * (k + 1) + t, (150, 200, frames)).copy() for k in range(n_trials)],
    )
    (folder / WN_TEST_DIRS[session]).mkdir(parents=True)
    np.save(
        folder / WN_TEST_DIRS[session] / "all_images.npy",
        np.broadcast_to(np.arange(TEST, dtype=np.int32), (150, 200, TEST)).copy(),
    )
    train = 10000.0 * (np.arange(n_trials) + 1)[None, None] + t[None, :, None] + np.zeros((2, 1, 1))
    test = np.broadcast_to(np.arange(TEST, dtype=np.float64)[None, :, None], (2, TEST, 3)).copy()
    write_responses(folder / RESPONSE_FILES["whitenoise"][session], train, test)
    return root


@pytest.mark.parametrize("extra_frame", [0, 2])
def test_white_noise_targets_align_and_trials_come_in_blocks(tmp_path, extra_frame) -> None:
    root = encoded_white_noise(tmp_path)
    loaders = orc.get_dataloaders(
        "sridhar_2025",
        data_dir=root,
        stim_type="whitenoise",
        num_of_frames=7,
        extra_frame=extra_frame,
        subsample=3,
        **OPTIONS,
    )
    overhead = 6
    per_trial = (90 - overhead - extra_frame) // 20
    order = []
    for split in ("train", "validation", "test"):
        for inputs, targets in loaders[split]["04"]:
            assert inputs.shape[1:] == (1, 20 + overhead, 27, 30)
            values = inputs[:, 0, :, 5, 7].numpy()
            assert (inputs.numpy() == values[:, None, :, None, None]).all()
            np.testing.assert_array_equal(targets[:, :, 1].numpy(), values[:, overhead:] + extra_frame)
            if split == "train":
                order += (values[:, 0] // 10000).astype(int).tolist()
    blocks = [order[i : i + per_trial] for i in range(0, len(order) - len(order) % per_trial, per_trial)]
    assert all(len(set(b)) == 1 for b in blocks), "each trial's chunks are served together"
    assert loaders["test"]["04"].dataset.test_responses_by_trial.shape == (3, 2, TEST)


def test_the_store_is_reused_and_invalidated(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    root = encoded_natural_movie(tmp_path / "data", n_trials=10, frames=60)
    options = {**OPTIONS, "num_of_frames": 1}

    def entries() -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for usage in list_entries("sridhar_2025"):
            found.setdefault(usage.session, set()).add(usage.key)
        return found

    first = orc.get_dataloaders("sridhar_2025", data_dir=root, **options)
    wait_for_store_writes()  # a cold load writes its entries in threads
    before = entries()
    assert set(before) == {"movie-complete_fixations_seed_2022and2023_s4_fixed", "natural_movie-01-responses"}
    again = orc.get_dataloaders("sridhar_2025", data_dir=root, **options)
    assert entries() == before, "a second load maps the same entries"
    assert np.array_equal(
        next(iter(again["test"]["01"]))[0].numpy(), next(iter(first["test"]["01"]))[0].numpy()
    )
    orc.get_dataloaders("sridhar_2025", data_dir=root, flip_imgs=True, **options)
    wait_for_store_writes()
    movie = "movie-complete_fixations_seed_2022and2023_s4_fixed"
    flipped = entries()[movie] - before[movie]
    assert len(flipped) == 1, "another option is another entry"
    fixation = root / "natural_movie" / FIXATION_FILES["01"]
    stamp = fixation.stat().st_mtime_ns
    os.utime(fixation, ns=(stamp + 10**9, stamp + 10**9))
    orc.get_dataloaders("sridhar_2025", data_dir=root, **options)
    wait_for_store_writes()
    after = entries()[movie]
    assert len(after) == 2 and flipped <= after and not before[movie] & after, (
        "the changed file's entry is replaced"
    )
    pickle = root / "natural_movie" / RESPONSE_FILES["natural_movie"]["01"]
    os.utime(pickle, ns=(stamp + 2 * 10**9, stamp + 2 * 10**9))
    orc.get_dataloaders("sridhar_2025", data_dir=root, **options)
    wait_for_store_writes()
    assert entries()["natural_movie-01-responses"] != before["natural_movie-01-responses"]
    count = len(list_entries("sridhar_2025"))
    orc.get_dataloaders("sridhar_2025", data_dir=root, prepared=False, stimulus_seed=2022, **options)
    assert len(list_entries("sridhar_2025")) == count, "prepared=False writes nothing"


def test_sample_locations_and_sta_recovery(tmp_path: Path) -> None:
    """The sample's STA files locate each cell at its filter's centre; a spike-triggered average over one
    training epoch recovers the LN filters: r >= 0.6 (natural movie, session 01: 16 trials x 300 frames),
    r >= 0.5 (session 02: 8 trials), r >= 0.6 (white noise)."""
    for stim_type, bounds in (
        ("natural_movie", {"01": 0.6, "02": 0.5}),
        ("whitenoise", {"01": 0.6, "04": 0.6}),
    ):
        sample = write_sample(tmp_path / "sample", stim_type=stim_type)
        loaders = orc.get_dataloaders("sridhar_2025", data_dir=sample.data_dir, **sample.options)
        for session, bound in bounds.items():
            truth = sample.filters[session]
            peak = np.abs(truth[:, 0]).max(axis=1).reshape(len(truth), -1).argmax(axis=1)
            centres = np.stack(np.unravel_index(peak, truth.shape[3:]), axis=1)
            assert loaders.data_info["rf_locations"][session] == centres.tolist()
            sta = spike_triggered_average(loaders["train"][session], filter_length=truth.shape[2])
            assert filter_correlation(sta, truth).min() >= bound, (stim_type, session)


# -- inconsistent files ---------------------------------------------------------------------------------------
def test_inconsistent_natural_movie_files_give_clear_errors(tmp_path: Path) -> None:
    root = encoded_natural_movie(tmp_path)
    with pytest.raises(
        ValueError,
        match=r"test responses have 120 bins, but the test sequence is the first 100 lines of .*complete_fixations_seed_2022and2023_s4_fixed\.txt",
    ):
        orc.get_dataloaders("sridhar_2025", data_dir=root, **{**OPTIONS, "test_frames": 100})
    fixation = root / "natural_movie" / FIXATION_FILES["01"]
    fixation.write_text("\n".join(fixation.read_text().splitlines()[:2000]) + "\n")
    with pytest.raises(
        ValueError,
        match=r"complete_fixations_seed_2022and2023_s4_fixed\.txt: 2000 fixation lines, but the responses need 3120 \(120 test frames \+ 20 trials x 150 frames per trial\)",
    ):
        orc.get_dataloaders("sridhar_2025", data_dir=root, **OPTIONS)
    fixation.unlink()
    with pytest.raises(
        FileNotFoundError, match="fixation file .*complete_fixations_seed_2022and2023_s4_fixed.txt"
    ):
        orc.get_dataloaders("sridhar_2025", data_dir=root, **OPTIONS)
    with pytest.raises(ValueError, match=r"unknown natural_movie session\(s\) \['05'\]"):
        orc.get_dataloaders("sridhar_2025", data_dir=root, sessions=["05"], **OPTIONS)
    with pytest.raises(FileNotFoundError, match="cell_responses_02_fixation_movie.pkl"):
        orc.get_dataloaders("sridhar_2025", data_dir=root, sessions=["02"], **OPTIONS)
    with pytest.raises(ValueError, match="stim_type must be one of"):
        orc.get_dataloaders("sridhar_2025", data_dir=root, stim_type="chirp")


def test_inconsistent_white_noise_files_give_clear_errors(tmp_path: Path) -> None:
    options = {**OPTIONS, "stim_type": "whitenoise", "num_of_frames": 1}
    root = encoded_white_noise(tmp_path / "a")
    trial = root / "whitenoise" / WN_TRAIN_DIRS["04"] / "trial_007" / "all_images.npy"
    np.save(trial, np.zeros((150, 200, 89), np.int8))
    with pytest.raises(
        ValueError, match=r"trial_007/all_images\.npy: 89 frames, but the responses have 90 frames per trial"
    ):
        orc.get_dataloaders("sridhar_2025", data_dir=root, **options)
    trial.unlink()
    trial.parent.rmdir()
    with pytest.raises(
        FileNotFoundError,
        match=r"trial_007: missing trial folder for trial 7 \(expected trial_007/all_images.npy under .*non_repeating_stimuli_2\)",
    ):
        orc.get_dataloaders("sridhar_2025", data_dir=root, **options)
    root = encoded_white_noise(tmp_path / "b")
    test = root / "whitenoise" / WN_TEST_DIRS["04"] / "all_images.npy"
    np.save(test, np.zeros((150, 200, TEST + 1), np.int8))
    with pytest.raises(
        ValueError,
        match=r"repeating_stimuli_2/all_images\.npy: 121 frames, but the test responses have 120 bins",
    ):
        orc.get_dataloaders("sridhar_2025", data_dir=root, **options)
    with pytest.raises(ValueError, match="hold no sample"):
        orc.get_dataloaders(
            "sridhar_2025", data_dir=encoded_white_noise(tmp_path / "c"), **{**options, "time_chunk_size": 91}
        )


def test_data_dir_may_be_the_stimulus_folder(tmp_path: Path) -> None:
    root = encoded_white_noise(tmp_path)
    loaders = orc.get_dataloaders(
        "sridhar_2025", data_dir=root / "whitenoise", stim_type="whitenoise", **OPTIONS
    )
    assert list(loaders["train"]) == ["04"]
    with pytest.raises(
        FileNotFoundError, match=r"no natural_movie files under .*expected .*natural_movie/responses"
    ):
        orc.get_dataloaders("sridhar_2025", data_dir=root, **OPTIONS)
