"""Stimuli: each session's movies, time-major ``(T, 1, H, W)`` float32, written once into the prepared store.

Natural movie: the test sequence and the kept training trials rendered from the padded images and the
session's own fixation file (``render.py``). White noise: the per-trial ``all_images.npy`` files (``(H, W,
frames)``, time last), memory-mapped one at a time (``TrialFiles``, a bounded cache of open files), cropped
and subsampled a block of frames at a time; the test movie is the repeated sequence. Neither is normalised
(openretina does not: natural-movie frames are image values / 255, white noise the stored values).

Sessions that read the same files with the same options share one entry (sessions 01, 03 and 04 share a
fixation file; white-noise sessions 01 and 02 an ensemble), and one mapped array within a load.
"""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openretina_core import BadDataError
from openretina_core.data import StimulusMap, StreamedFrames, load_npy
from openretina_sridhar_2025.constants import (
    IMAGE_MARK,
    RETINA_CROP,
    WN_FILE,
    WN_TRIAL_DIR,
)
from openretina_sridhar_2025.fixations import read_fixations, trial_lines
from openretina_sridhar_2025.render import FramePlan, Geometry, ImageBank, image_files

logger = logging.getLogger(__name__)

_WN_BLOCK_BYTES = 32 << 20  # float32 frames converted at once
RENDER_ROWS = 4096  # natural-movie frames rendered per call into an in-memory movie

Allocate = Callable[[str, tuple[int, ...]], np.ndarray]
# The float32 values of natural-movie frames stored as their uint8 image values: (raw - 0) / 255, computed as
# the float32 path computes it (convert, divide), so batches are the same bit for bit.
IMAGE_MAP = StimulusMap(0.0, 255.0)


def new_arrays(name: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.empty(shape, dtype=np.float32)


def _bar(total: int, desc: str) -> Any:
    from tqdm.auto import tqdm

    from openretina_core.files import progress_enabled

    return tqdm(total=total, desc=desc, unit="frame", disable=not progress_enabled(), leave=False)


# -- natural movie -------------------------------------------------------------------------------------------
def natural_movie_plans(
    fixation_path: Path,
    image_dir: Path,
    geometry: Geometry,
    *,
    trials: Sequence[int],
    n_trials: int,
    frames_per_trial: int,
    test_frames: int,
    device: torch.device | None = None,
    compact: bool = False,
) -> tuple[dict[str, FramePlan], np.dtype]:
    """``{"test": plan, "train": plan}`` (every line checked) and the frames' dtype: uint8 with ``compact`` and
    uint8 images, else float32."""
    fixations = read_fixations(fixation_path)
    test_lines, train_lines = trial_lines(fixations, trials, frames_per_trial, test_frames, n_trials)
    bank = ImageBank(image_files(image_dir, IMAGE_MARK), geometry.image_shape)
    dtype = np.dtype(np.uint8 if compact and bank.all_uint8() else np.float32)
    plans = {
        name: FramePlan(bank, fixations, lines, geometry, device)
        for name, lines in (("test", test_lines), ("train", train_lines))
    }
    return plans, dtype


def plans_with_own_images(plans: dict[str, FramePlan]) -> dict[str, FramePlan]:
    """The same plans reading a new image bank (for another thread: a bank's cache is not shared)."""
    banks: dict[int, ImageBank] = {}
    copies = {}
    for name, plan in plans.items():
        bank = banks.setdefault(
            id(plan.bank), ImageBank(plan.bank.paths, plan.bank.shape, plan.bank.cache_bytes)
        )
        copies[name] = copy.copy(plan)
        copies[name].bank = bank
    return copies


def plan_streams(plans: dict[str, FramePlan], dtype: Any, label: str) -> dict[str, StreamedFrames]:
    """The plans as streams rendered when read, with a progress bar each."""
    streams = {}
    for name, plan in plans.items():
        bar = _bar(len(plan), f"rendering {label}: {name}")

        def render(start: int, stop: int, out: np.ndarray, plan: FramePlan = plan, bar: Any = bar) -> None:
            plan.render(start, stop, out, bar.update)
            if stop == len(plan):
                bar.close()

        streams[name] = StreamedFrames((len(plan), 1, *plan.shape), dtype, render)
    return streams


def natural_movie_streams(
    fixation_path: Path,
    image_dir: Path,
    geometry: Geometry,
    *,
    trials: Sequence[int],
    n_trials: int,
    frames_per_trial: int,
    test_frames: int,
    device: torch.device | None = None,
    compact: bool = False,
) -> dict[str, StreamedFrames]:
    """``{"test": (test_frames, 1, H, W), "train": (len(trials) * frames_per_trial, 1, H, W)}``, as streams
    rendered when read (every line checked first, before anything is rendered or written): float32 image / 255,
    or with ``compact`` and uint8 images the uint8 image values (``IMAGE_MAP`` gives their float32 values)."""
    plans, dtype = natural_movie_plans(
        fixation_path,
        image_dir,
        geometry,
        trials=trials,
        n_trials=n_trials,
        frames_per_trial=frames_per_trial,
        test_frames=test_frames,
        device=device,
        compact=compact,
    )
    return plan_streams(plans, dtype, fixation_path.stem)


def render_session_movies(
    fixation_path: Path,
    image_dir: Path,
    geometry: Geometry,
    *,
    trials: Sequence[int],
    n_trials: int,
    frames_per_trial: int,
    test_frames: int,
    allocate: Allocate = new_arrays,
    device: torch.device | None = None,
) -> dict[str, np.ndarray]:
    """The same movies rendered whole into the arrays ``allocate`` gives (new in-memory arrays by default)."""
    streams = natural_movie_streams(
        fixation_path,
        image_dir,
        geometry,
        trials=trials,
        n_trials=n_trials,
        frames_per_trial=frames_per_trial,
        test_frames=test_frames,
        device=device,
    )
    return {
        name: stream.read_all(allocate(name, stream.shape), RENDER_ROWS) for name, stream in streams.items()
    }


def natural_movie_params(
    fixation_path: Path,
    geometry: Geometry,
    trials: Sequence[int],
    n_trials: int,
    frames_per_trial: int,
    test_frames: int,
    store_dtype: str = "published",
) -> dict[str, Any]:
    """Every parameter that changes the rendered frames (part of the entry's key)."""
    return {
        "kind": "natural_movie",
        "fixations": fixation_path.name,
        "geometry": geometry.as_params(),
        "trials": [int(t) for t in trials],
        "n_trials": int(n_trials),
        "frames_per_trial": int(frames_per_trial),
        "test_frames": int(test_frames),
        "values": "image / 255, float32",
        "store_dtype": store_dtype,  # "published": uint8 images stored as uint8 frames with IMAGE_MAP
    }


# -- white noise ---------------------------------------------------------------------------------------------
class TrialFiles:
    """The per-trial ``trial_NNN/all_images.npy`` files of one folder, memory-mapped when first used and kept
    open in a cache of at most ``maxsize`` files (the least recently used is closed first)."""

    def __init__(self, folder: Path, maxsize: int = 1) -> None:
        if maxsize < 1:
            raise BadDataError(f"cache_maxsize must be at least 1, got {maxsize}")
        self.folder = Path(folder)
        self.maxsize = int(maxsize)
        self._open: OrderedDict[int, np.ndarray] = OrderedDict()
        self.opened = 0
        self.most_open = 0

    def path(self, trial: int) -> Path:
        return self.folder / WN_TRIAL_DIR.format(index=int(trial)) / WN_FILE

    def check_present(self, trials: Sequence[int]) -> list[Path]:
        """The trials' files, with an error naming the first missing folder or file."""
        if not self.folder.is_dir():
            raise FileNotFoundError(f"white-noise trial folder {str(self.folder)!r} does not exist")
        paths = [self.path(t) for t in trials]
        for trial, path in zip(trials, paths):
            if not path.parent.is_dir():
                raise FileNotFoundError(
                    f"{path.parent}: missing trial folder for trial {trial} (expected "
                    f"{WN_TRIAL_DIR.format(index=int(trial))}/{WN_FILE} under {self.folder})"
                )
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing white-noise frames of trial {trial}")
        return paths

    def array(self, trial: int) -> np.ndarray:
        trial = int(trial)
        if trial in self._open:
            self._open.move_to_end(trial)
            return self._open[trial]
        while len(self._open) >= self.maxsize:
            self._open.popitem(last=False)
        array = open_frames(self.path(trial))
        self._open[trial] = array
        self.opened += 1
        self.most_open = max(self.most_open, len(self._open))
        return array

    def close(self) -> None:
        self._open.clear()


def open_frames(path: Path) -> np.ndarray:
    """A white-noise file ``(H, W, frames)`` memory-mapped (nothing is read until it is sliced)."""
    if not path.is_file():
        raise FileNotFoundError(f"white-noise file {str(path)!r} does not exist")
    array = load_npy(path, "white-noise frames (H, W, frames)", mmap_mode="r")
    if array.ndim != 3 or array.dtype.kind not in "uifb":
        raise BadDataError(
            f"{path}: frames of shape {array.shape} and dtype {array.dtype}, expected (H, W, frames)"
        )
    return array


def wn_output_shape(frame_shape: tuple[int, int], crop: Sequence[int], subsample: int) -> tuple[int, int]:
    top, bottom, left, right = crop
    height, width = frame_shape
    return len(range(top, height - bottom, subsample)), len(range(left, width - right, subsample))


def crop_frames(
    frames: np.ndarray, out: np.ndarray, crop: Sequence[int], subsample: int, path: Path, progress: Any = None
) -> None:
    """``frames`` ``(H, W, T)`` -> ``out`` ``(T, h, w)``: cropped ``[top:H-bottom:s, left:W-right:s]``, a block of
    frames at a time (each block is one strided read of the mapping and one transposing copy)."""
    top, bottom, left, right = crop
    height, width, length = frames.shape
    expected = (length, *wn_output_shape((height, width), crop, subsample))
    if out.shape != expected:
        raise BadDataError(
            f"{path}: frames {frames.shape} give {expected} after the crop, expected {out.shape}"
        )
    window = frames[top : height - bottom : subsample, left : width - right : subsample]
    block = max(1, _WN_BLOCK_BYTES // max(1, 4 * out.shape[1] * out.shape[2]))
    for start in range(0, length, block):
        stop = min(length, start + block)
        out[start:stop] = np.asarray(window[:, :, start:stop], dtype=np.float32).transpose(2, 0, 1)
        if progress is not None:
            progress(stop - start)


def white_noise_movies(
    train_dir: Path,
    test_dir: Path,
    *,
    trials: Sequence[int],
    frames_per_trial: int,
    test_frames: int,
    crop: Sequence[int] = RETINA_CROP,
    subsample: int = 1,
    cache_maxsize: int = 1,
    allocate: Allocate = new_arrays,
) -> dict[str, np.ndarray]:
    """``{"test": (T_test, 1, h, w), "train": (len(trials) * frames_per_trial, 1, h, w)}`` from the files."""
    files = TrialFiles(train_dir, cache_maxsize)
    files.check_present(trials)
    test_path = test_dir / WN_FILE
    test = open_frames(test_path)
    shapes = {test.shape[:2]}
    for trial in trials:  # headers only: every trial's shape checked before anything is written
        frames = files.array(trial)
        if frames.shape[2] != frames_per_trial:
            raise BadDataError(
                f"{files.path(trial)}: {frames.shape[2]} frames, but the responses have {frames_per_trial} "
                f"frames per trial (train_responses' time axis)"
            )
        shapes.add(frames.shape[:2])
    if test.shape[2] != test_frames:
        raise BadDataError(
            f"{test_path}: {test.shape[2]} frames, but the test responses have {test_frames} bins"
        )
    if len(shapes) != 1:
        raise BadDataError(
            f"white-noise frames of {train_dir} and {test_dir} differ in size: {sorted(shapes)}"
        )
    height, width = wn_output_shape(next(iter(shapes)), crop, subsample)
    if height < 1 or width < 1:
        raise BadDataError(
            f"the crop {tuple(crop)} leaves nothing of the {next(iter(shapes))} white-noise frames"
        )
    movies = {"test": allocate("test", (test_frames, 1, height, width))}
    with _bar(test_frames, f"cropping {test_dir.name}") as bar:
        crop_frames(
            test, movies["test"].reshape(test_frames, height, width), crop, subsample, test_path, bar.update
        )
    total = len(trials) * frames_per_trial
    movies["train"] = allocate("train", (total, 1, height, width))
    flat = movies["train"].reshape(total, height, width)
    with _bar(total, f"cropping {train_dir.name}") as bar:
        for position, trial in enumerate(trials):
            rows = slice(position * frames_per_trial, (position + 1) * frames_per_trial)
            crop_frames(files.array(trial), flat[rows], crop, subsample, files.path(trial), bar.update)
    files.close()
    return movies


def white_noise_params(
    train_dir: Path,
    test_dir: Path,
    trials: Sequence[int],
    frames_per_trial: int,
    crop: Sequence[int],
    subsample: int,
) -> dict[str, Any]:
    return {
        "kind": "whitenoise",
        "train_dir": train_dir.name,
        "test_dir": test_dir.name,
        "trials": [int(t) for t in trials],
        "frames_per_trial": int(frames_per_trial),
        "crop": [int(c) for c in crop],
        "subsample": int(subsample),
        "values": "as stored, float32",
    }


# -- the sources of an entry ---------------------------------------------------------------------------------
def movie_sources_natural(fixation_path: Path, image_dir: Path) -> list[Path]:
    return [fixation_path, *image_files(image_dir, IMAGE_MARK)]


def movie_sources_white_noise(train_dir: Path, test_dir: Path, trials: Sequence[int]) -> list[Path]:
    files = TrialFiles(train_dir)
    return [*files.check_present(trials), test_dir / WN_FILE]
