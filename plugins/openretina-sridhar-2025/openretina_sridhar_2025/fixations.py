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
    """Every line of a fixation file, with errors naming the file and the line for a malformed one.

    A file of plain decimal numbers with the same number of columns on every line (the published files) is
    parsed from its bytes in a few vectorised passes (0.3 s -> 0.02 s for 158,100 lines); any other file goes
    through the line-by-line reader, which gives the same values and names the first malformed line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fixation file {str(path)!r} does not exist")
    data = path.read_bytes()
    parsed = _parse_plain(data.replace(b"\r\n", b"\n").rstrip(b"\n"))
    if parsed is not None:
        return Fixations(path, *parsed)
    try:
        lines = data.decode().splitlines()  # what read_text() reads: universal newlines
    except UnicodeDecodeError as exc:
        raise BadFileError(path, f"is not a text file ({exc})", "lines of space-separated numbers") from None
    return _parse_lines(path, lines)


def _parse_lines(path: Path, lines: list[str]) -> Fixations:
    while lines and not lines[-1].strip():  # a trailing newline or blank lines at the end
        lines.pop()
    n = len(lines)
    image = np.empty(n, dtype=np.int64)
    center_x = np.empty(n, dtype=np.int64)
    center_y = np.empty(n, dtype=np.int64)
    flag = np.empty(n, dtype=np.uint8)
    col_img, col_x, col_y = _COLUMNS
    needed = max(_COLUMNS) + 2  # the flag column comes after the centre
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
        except (ValueError, OverflowError) as exc:
            raise BadDataError(
                f"{path}, line {number + 1}: cannot read a fixation from {line[:80]!r} ({exc}); expected "
                f"space-separated 'image _ _ center_x center_y ... flip'"
            ) from None
    return Fixations(path, image, center_x, center_y, flag)


_COLUMNS = (FIXATION_COLUMNS["image"], FIXATION_COLUMNS["center_x"], FIXATION_COLUMNS["center_y"])
_PLAIN_BYTES = np.zeros(256, dtype=bool)
_PLAIN_BYTES[list(b"0123456789.+- \n")] = True
_MAX_DIGITS = 15  # int(float(token)) is the token's integer part for up to 15 significant digits


def _parse_plain(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """``(image, center_x, center_y, flag)`` of a file whose lines all hold the same number (at least the
    needed) of single-space-separated tokens, the parsed ones plain decimals (``[+-]digits[.digits]``, at most
    15 digits) and the flag's first character 0 or 1; None for anything else (the line reader decides)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size == 0 or not _PLAIN_BYTES[raw].all():
        return None
    newlines = np.flatnonzero(raw == 10)
    spaces = np.flatnonzero(raw == 32)
    n = newlines.size + 1
    if spaces.size % n or spaces.size // n + 1 < max(_COLUMNS) + 2:
        return None
    seps = spaces.reshape(n, -1)  # row i holds line i's separators when the checks below pass
    starts = np.concatenate([[0], newlines + 1])
    ends = np.append(newlines, raw.size)
    if (
        np.any(seps[:, 0] <= starts)  # a leading space, or fewer separators on this line
        or np.any(seps[:, -1] >= ends - 1)  # a trailing space, or more separators on this line
        or np.any(np.diff(seps, axis=1) == 1)  # an empty token
    ):
        return None
    flag_char = raw[seps[:, -1] + 1]
    if not np.all((flag_char == 48) | (flag_char == 49)):
        return None
    values = []
    for column in _COLUMNS:
        begin = starts if column == 0 else seps[:, column - 1] + 1
        value = _integer_parts(raw, begin, seps[:, column])
        if value is None:
            return None
        values.append(value)
    return values[0], values[1], values[2], (flag_char == 49).astype(np.uint8)


def _integer_parts(raw: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray | None:
    """``int(float(token))`` of the tokens ``raw[begin:end]`` (truncation toward zero), or None unless every
    token is a plain decimal of at most ``_MAX_DIGITS`` digits. One pass per character position (Horner's rule
    over the digits before the point), a few operations on one byte per token each."""
    width = end - begin
    if int(width.max()) > _MAX_DIGITS + 2:
        return None
    value = np.zeros(begin.size, dtype=np.int64)
    digits = np.zeros(begin.size, dtype=np.int64)
    after_point = np.zeros(begin.size, dtype=bool)
    negative = np.zeros(begin.size, dtype=bool)
    for position in range(int(width.max())):
        live = position < width
        char = np.where(live, raw[np.minimum(begin + position, raw.size - 1)], 0)
        sign = (char == 43) | (char == 45)
        if position == 0:
            negative = char == 45
        elif sign.any():
            return None
        point = char == 46
        if (point & after_point).any():
            return None
        after_point |= point
        digit = (char >= 48) & (char <= 57)
        digits += digit
        whole = digit & ~after_point
        value[whole] = value[whole] * 10 + (char[whole] - 48)
    if (digits < 1).any() or (digits > _MAX_DIGITS).any():
        return None
    return np.where(negative, -value, value)


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
