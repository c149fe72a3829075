"""The natural movie's fixation files: one line per displayed frame, and which lines a trial shows.

A line is space-separated: column 0 the image index (a float, cast to int: a 0-based index into the sorted
image files), columns 3 and 4 the fixation centre (x, y) in the unpadded image, and the first character of the
last column the flip flag (``"0"`` mirrors the frame). Columns 1 and 2 are not used. The first
``test_frames`` lines (5100) are the repeated test sequence; training trial ``k`` (its index along the
pickle's trial axis) occupies the ``frames_per_trial`` lines from ``test_frames + k * frames_per_trial``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from attrs import define

from openretina_core import BadDataError, BadFileError
from openretina_sridhar_2025.constants import FIXATION_COLUMNS


@define(frozen=True, eq=False)
class Fixations:
    """Parsed lines of one fixation file: ``image``, ``center_x``, ``center_y`` (int64) and ``flag`` (the flip
    flag's character, ``"0"`` or ``"1"``, as uint8 0/1), one entry per line."""

    path: Path
    image: np.ndarray
    center_x: np.ndarray
    center_y: np.ndarray
    flag: np.ndarray

    def __len__(self) -> int:
        return int(self.image.shape[0])

    def select(self, lines: np.ndarray) -> Fixations:
        return Fixations(
            self.path, self.image[lines], self.center_x[lines], self.center_y[lines], self.flag[lines]
        )


def read_fixations(path: str | Path) -> Fixations:
    """Every line of a fixation file, with errors naming the file and the line for a malformed one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fixation file {str(path)!r} does not exist")
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as exc:
        raise BadFileError(path, f"is not a text file ({exc})", "lines of space-separated numbers") from None
    while lines and not lines[-1].strip():  # a trailing newline or blank lines at the end
        lines.pop()
    n = len(lines)
    image = np.empty(n, dtype=np.int64)
    center_x = np.empty(n, dtype=np.int64)
    center_y = np.empty(n, dtype=np.int64)
    flag = np.empty(n, dtype=np.uint8)
    col_img, col_x, col_y = (
        FIXATION_COLUMNS["image"],
        FIXATION_COLUMNS["center_x"],
        FIXATION_COLUMNS["center_y"],
    )
    needed = max(col_img, col_x, col_y) + 2  # the flag column comes after the centre
    for number, line in enumerate(lines):
        parts = line.rstrip("\r").split(" ")
        try:
            if len(parts) < needed:
                raise BadDataError(f"{len(parts)} columns, expected at least {needed}")
            image[number] = int(float(parts[col_img]))
            center_x[number] = int(float(parts[col_x]))
            center_y[number] = int(float(parts[col_y]))
            first = parts[-1][:1]
            if first not in ("0", "1"):
                raise BadDataError(f"flip flag {parts[-1]!r} does not start with 0 or 1")
            flag[number] = first == "1"
        except ValueError as exc:
            raise BadDataError(
                f"{path}, line {number + 1}: cannot read a fixation from {line[:80]!r} ({exc}); expected "
                f"space-separated 'image _ _ center_x center_y ... flip'"
            ) from None
    return Fixations(path, image, center_x, center_y, flag)


def trial_lines(
    fixations: Fixations, trials: Sequence[int], frames_per_trial: int, test_frames: int, n_trials: int
) -> tuple[np.ndarray, np.ndarray]:
    """Line numbers of the test sequence and of the given training trials (concatenated in that order).

    ``n_trials`` is the pickle's trial count: the file must hold a line for every frame of every trial the
    responses have (lines past the last trial are allowed: sessions share a fixation file).
    """
    needed = test_frames + n_trials * frames_per_trial
    if len(fixations) < needed:
        raise BadDataError(
            f"{fixations.path}: {len(fixations)} fixation lines, but the responses need {needed} "
            f"({test_frames} test frames + {n_trials} trials x {frames_per_trial} frames per trial)"
        )
    trials_arr = np.asarray(list(trials), dtype=np.int64)
    if trials_arr.size and (trials_arr.min() < 0 or trials_arr.max() >= n_trials):
        raise BadDataError(f"trial indices {trials_arr.tolist()} outside [0, {n_trials})")
    test = np.arange(test_frames, dtype=np.int64)
    train = (test_frames + trials_arr[:, None] * frames_per_trial + np.arange(frames_per_trial)).reshape(-1)
    return test, train
