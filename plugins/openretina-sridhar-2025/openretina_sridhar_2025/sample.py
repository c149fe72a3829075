"""Synthetic sessions in the real layout, with LN-model responses to the movies the loaders return.

``write_sample(root)`` writes, under ``root``:

* ``natural_movie/``: padded ``(350, 300)`` images in ``stimuli_padded_4/`` (``*_img_*.npy``, uint8), the two
  fixation files (session 01 reads ``..._2022and2023_...``, session 02 ``..._seed2022_...``), the response
  pickles of sessions 01 (20 trials, ``seeds`` and ``trial_separation`` as two seeds of ten trials, one test
  repeat per trial) and 02 (10 trials), and one white-noise STA per cell in ``stas/``;
* ``whitenoise/``: per-trial ``trial_NNN/all_images.npy`` ``(150, 200, frames)`` and the repeated
  ``all_images.npy`` in ``non_repeating_stimuli_{1,2}`` / ``repeating_stimuli_{1,2}``, the pickles of sessions 01
  and 04, and the STAs.

The test sequence is shorter than the real 5100 frames (``options["test_frames"]``), and fixations jump every
frame (real ones dwell), so that a spike-triggered average over a few thousand frames recovers the filters.
Responses are Poisson counts of ``openretina_core.data``'s LN model applied to each trial's rendered movie (less
its mean), trial by trial. The options load the sample with no frame overhead (``num_of_frames=1``) so that
inputs and targets line up frame for frame; the loaders' overhead arithmetic is tested separately.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from openretina_core.registry import SyntheticSample
from openretina_sridhar_2025.constants import (
    FIXATION_FILES,
    IMAGES_DIR,
    NATURAL_MOVIE,
    PADDED_IMAGE_SHAPE,
    RESPONSE_FILES,
    RETINA_CROP,
    STA_DIR,
    STA_FILE,
    STIM_FOLDERS,
    WHITENOISE,
    WN_FILE,
    WN_FRAME_SHAPE,
    WN_TEST_DIRS,
    WN_TRAIN_DIRS,
    WN_TRIAL_DIR,
)
from openretina_sridhar_2025.fixations import Fixations
from openretina_sridhar_2025.render import Geometry, ImageBank, render_frames

FILTER_LENGTH = 4
LN_GAIN = 4.0
CENTER_RANGE_X = (50, 200)  # the whole crop stays inside the padded image
CENTER_RANGE_Y = (25, 175)
WN_SQUARE = 5  # white-noise checkerboard squares (pixels)
IMAGE_BLOCK = 4  # natural-image texture blocks (pixels)
SAMPLE_EXCLUDED = {"01": [2, 5], "02": [0], "04": [1]}


# -- writers of the published formats ------------------------------------------------------------------------
def write_images(folder: Path, images: np.ndarray) -> list[Path]:
    """One ``<n>_img_<n>.npy`` per image ``(x, y)``, names sorting in index order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, image in enumerate(images):
        path = folder / f"marmoset_{index:05d}_img_{index:05d}.npy"
        np.save(path, image)
        paths.append(path)
    return paths


def write_fixation_file(
    path: Path, image: np.ndarray, center_x: np.ndarray, center_y: np.ndarray, flag: np.ndarray
) -> None:
    """Lines ``image t_on t_off center_x center_y flag``: image index as a float, the flag last."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        f"{float(k):.1f} {t} {t + 1} {int(x)} {int(y)} {int(f)}"
        for t, (k, x, y, f) in enumerate(zip(image, center_x, center_y, flag))
    ]
    path.write_text("\n".join(rows) + "\n")


def write_responses(
    path: Path,
    train: np.ndarray,
    test: np.ndarray,
    seeds: Sequence[int] | None = None,
    separation: Mapping[int, Sequence[int]] | None = None,
) -> None:
    """A response pickle: ``train_responses`` ``(N, frames, trials)``, ``test_responses`` ``(N, T, repeats)``."""
    data: dict[str, Any] = {"train_responses": train, "test_responses": test}
    if seeds is not None:
        data["seeds"] = list(seeds)
        data["trial_separation"] = {int(k): list(v) for k, v in (separation or {}).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=4)


def write_wn_trials(folder: Path, trials: Sequence[np.ndarray]) -> None:
    for index, frames in enumerate(trials):
        target = folder / WN_TRIAL_DIR.format(index=index) / WN_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, frames)


def write_stas(folder: Path, session: str, stas: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for cell, sta in enumerate(stas):
        np.save(folder / STA_FILE.format(session=session, cell=cell), sta.astype(np.float32))


# -- synthetic content ----------------------------------------------------------------------------------------
def block_images(
    rng: np.random.Generator, n: int, shape: tuple[int, int], block: int = IMAGE_BLOCK
) -> np.ndarray:
    """``(n, x, y)`` uint8 images of random ``block``-pixel squares."""
    coarse = rng.integers(0, 256, size=(n, -(-shape[0] // block), -(-shape[1] // block)), dtype=np.uint8)
    return np.repeat(np.repeat(coarse, block, axis=1), block, axis=2)[:, : shape[0], : shape[1]]


def random_fixations(rng: np.random.Generator, lines: int, n_images: int) -> dict[str, np.ndarray]:
    return {
        "image": rng.integers(0, n_images, lines),
        "center_x": rng.integers(CENTER_RANGE_X[0], CENTER_RANGE_X[1] + 1, lines),
        "center_y": rng.integers(CENTER_RANGE_Y[0], CENTER_RANGE_Y[1] + 1, lines),
        "flag": rng.integers(0, 2, lines),
    }


def _model(n_cells: int, shape: tuple[int, int], seed: int) -> Any:
    from openretina_core.data import make_lnp_model

    return attrs.evolve(
        make_lnp_model(n_cells, 1, *shape, filter_length=FILTER_LENGTH, seed=seed), gain=LN_GAIN
    )


def _simulate(model: Any, movie: np.ndarray, mean: float, seed: int) -> np.ndarray:
    """Counts ``(N, T)`` for a ``(T, H, W)`` movie."""
    from openretina_core.data import simulate_responses

    return simulate_responses(model, (movie - np.float32(mean))[None], seed=seed)


def _stas(model: Any, frame_shape: tuple[int, int], flip_rows: bool) -> np.ndarray:
    """White-noise-coordinate STAs ``(N, lags, H, W)`` whose located pixel is each filter's centre."""
    top, _, left, _ = RETINA_CROP
    filters = model.filters[:, 0]  # (N, K, h, w)
    out = np.zeros((filters.shape[0], filters.shape[1], *frame_shape), dtype=np.float32)
    out[:, :, top : top + filters.shape[2], left : left + filters.shape[3]] = filters
    return out[:, :, ::-1] if flip_rows else out


def _natural_session(
    root: Path,
    session: str,
    bank: ImageBank,
    rng: np.random.Generator,
    *,
    n_cells: int,
    n_trials: int,
    frames_per_trial: int,
    test_frames: int,
    repeats: int,
    seed: int,
    seeds: bool,
) -> np.ndarray:
    """Write one natural-movie session's fixations, responses and STAs; the true filters of all its cells."""
    geometry = Geometry()
    lines = test_frames + n_trials * frames_per_trial
    fix = random_fixations(rng, lines, len(bank))
    path = root / FIXATION_FILES[session]
    write_fixation_file(path, **fix)
    fixations = Fixations(path, **{k: np.asarray(v) for k, v in fix.items()})
    height, width = geometry.output_shape
    movie = render_frames(
        bank, fixations, np.arange(lines), geometry, np.empty((lines, height, width), np.float32)
    )
    model = _model(n_cells, (height, width), seed)
    mean = float(movie[test_frames:].mean())
    test = np.stack(
        [_simulate(model, movie[:test_frames], mean, seed + 1 + r) for r in range(repeats)], axis=-1
    )
    train = np.stack(
        [
            _simulate(
                model,
                movie[test_frames + k * frames_per_trial : test_frames + (k + 1) * frames_per_trial],
                mean,
                seed + 100 + k,
            )
            for k in range(n_trials)
        ],
        axis=-1,
    )
    separation = (
        {2022: list(range(n_trials // 2)), 2023: list(range(n_trials // 2, n_trials))} if seeds else None
    )
    write_responses(
        root / RESPONSE_FILES[NATURAL_MOVIE][session],
        train,
        test,
        [2022, 2023] if seeds else None,
        separation,
    )
    write_stas(root / STA_DIR, session, _stas(model, WN_FRAME_SHAPE, flip_rows=True))
    return model.filters


def _white_noise_session(
    root: Path,
    session: str,
    rng: np.random.Generator,
    *,
    n_cells: int,
    n_trials: int,
    frames_per_trial: int,
    test_frames: int,
    repeats: int,
    seed: int,
) -> np.ndarray:
    top, bottom, left, right = RETINA_CROP
    height, width = WN_FRAME_SHAPE

    def noise(frames: int) -> np.ndarray:  # (H, W, frames) int8 +-1 in squares of WN_SQUARE pixels
        shape = (-(-height // WN_SQUARE), -(-width // WN_SQUARE), frames)
        coarse = rng.choice(np.array([-1, 1], dtype=np.int8), size=shape)
        return np.repeat(np.repeat(coarse, WN_SQUARE, axis=0), WN_SQUARE, axis=1)[:height, :width]

    trials = [noise(frames_per_trial) for _ in range(n_trials)]
    test_movie = noise(test_frames)
    write_wn_trials(root / WN_TRAIN_DIRS[session], trials)
    (root / WN_TEST_DIRS[session]).mkdir(parents=True, exist_ok=True)
    np.save(root / WN_TEST_DIRS[session] / WN_FILE, test_movie)
    model = _model(n_cells, (height - top - bottom, width - left - right), seed)

    def cropped(frames: np.ndarray) -> np.ndarray:
        return frames[top : height - bottom, left : width - right].transpose(2, 0, 1).astype(np.float32)

    train = np.stack(
        [_simulate(model, cropped(t), 0.0, seed + 100 + k) for k, t in enumerate(trials)], axis=-1
    )
    test = np.stack(
        [_simulate(model, cropped(test_movie), 0.0, seed + 1 + r) for r in range(repeats)], axis=-1
    )
    write_responses(root / RESPONSE_FILES[WHITENOISE][session], train, test)
    write_stas(root / STA_DIR, session, _stas(model, WN_FRAME_SHAPE, flip_rows=False))
    return model.filters


def write_sample(
    root: str | Path,
    seed: int = 0,
    *,
    n_cells: int = 8,
    n_trials: int = 20,
    frames_per_trial: int = 300,
    test_frames: int = 200,
    n_images: int = 24,
    wn_trials: int = 10,
    wn_frames_per_trial: int = 300,
    stim_type: str = NATURAL_MOVIE,
) -> SyntheticSample:
    """Write both stimulus types' synthetic sessions under ``root`` (see the module doc); the returned filters
    and options are those of ``stim_type``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    nm_root, wn_root = root / STIM_FOLDERS[NATURAL_MOVIE], root / STIM_FOLDERS[WHITENOISE]
    paths = write_images(nm_root / IMAGES_DIR, block_images(rng, n_images, PADDED_IMAGE_SHAPE))
    bank = ImageBank(paths, PADDED_IMAGE_SHAPE)
    filters: dict[str, np.ndarray] = {}
    common = {"n_cells": n_cells, "frames_per_trial": frames_per_trial, "test_frames": test_frames}
    filters["01"] = _natural_session(
        nm_root, "01", bank, rng, n_trials=n_trials, repeats=n_trials, seed=seed + 10, seeds=True, **common
    )
    filters["02"] = _natural_session(
        nm_root, "02", bank, rng, n_trials=n_trials // 2, repeats=4, seed=seed + 20, seeds=False, **common
    )
    wn_filters = {
        session: _white_noise_session(
            wn_root,
            session,
            rng,
            n_cells=n_cells,
            n_trials=wn_trials,
            frames_per_trial=wn_frames_per_trial,
            test_frames=test_frames,
            repeats=4,
            seed=seed + 30 + i,
        )
        for i, session in enumerate(("01", "04"))
    }

    def kept(all_filters: np.ndarray, session: str) -> np.ndarray:
        return np.delete(all_filters, SAMPLE_EXCLUDED.get(session, []), axis=0)

    chosen = filters if stim_type == NATURAL_MOVIE else wn_filters
    options = {
        "stim_type": stim_type,
        "num_of_frames": 1,
        "time_chunk_size": 50,
        "test_frames": test_frames,
        "excluded_cells": {s: list(v) for s, v in SAMPLE_EXCLUDED.items()},
    }
    return SyntheticSample(data_dir=root, filters={s: kept(f, s) for s, f in chosen.items()}, options=options)
