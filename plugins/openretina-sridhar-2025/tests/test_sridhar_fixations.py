"""The fixation file's fast reader (whole-file, vectorised) against the line-by-line reader: same values, and
anything the fast reader does not accept goes to the line reader (same errors)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from openretina_sridhar_2025.fixations import _parse_lines, _parse_plain, read_fixations

KEYS = ("image", "center_x", "center_y", "flag")


def _token(rng: random.Random) -> str:
    draw = rng.random()
    if draw < 0.5:
        return str(rng.randint(-300, 300))
    if draw < 0.7:
        return f"{rng.uniform(-500, 500):.{rng.randint(0, 3)}f}"
    return "".join(rng.choice("0123456789.+-") for _ in range(rng.randint(1, 5)))


def _both(path: Path) -> tuple[object, object]:
    text = path.read_bytes().decode()
    try:
        slow: object = _parse_lines(path, text.splitlines())
    except ValueError as exc:
        slow = type(exc)
    try:
        full: object = read_fixations(path)
    except ValueError as exc:
        full = type(exc)
    return slow, full


def test_fast_and_line_readers_agree(tmp_path: Path) -> None:
    rng = random.Random(0)
    path = tmp_path / "fix.txt"
    fast_used = 0
    for _ in range(600):
        rows = [
            " ".join([_token(rng), "0", "1", _token(rng), _token(rng), rng.choice(["0", "1", "0.5", "1x"])])
            for _ in range(rng.randint(1, 4))
        ]
        path.write_bytes(("\n".join(rows) + rng.choice(["", "\n", "\n\n", "\r\n"])).encode())
        slow, full = _both(path)
        fast = _parse_plain(path.read_bytes().replace(b"\r\n", b"\n").rstrip(b"\n"))
        if fast is not None:
            fast_used += 1
            assert not isinstance(slow, type)
            for key, values in zip(KEYS, fast):
                np.testing.assert_array_equal(values, getattr(slow, key))
        if isinstance(slow, type):
            assert full is slow
        else:
            assert not isinstance(full, type)
            for key in KEYS:
                np.testing.assert_array_equal(getattr(full, key), getattr(slow, key))
                assert getattr(full, key).dtype == getattr(slow, key).dtype
    assert fast_used > 100  # the fast reader served a good share of the files


@pytest.mark.parametrize(
    "text",
    [
        "1 0 1 60 70 1\n2  0 1 60 70 1\n",  # an empty token (two spaces): the line reader's error
        " 1 0 1 60 70 1\n",  # a leading space
        "1 0 1 60 70 1 \n",  # a trailing space: the flag is the empty last column
        "1e2 0 1 60 70 1\n",  # an exponent: Python's float() decides
        "1 0 1 60 70 1\n\n2 0 1 60 70 1\n",  # a blank line inside the file
        "1.5 0 1 inf 70 1\n",
        "99999999999999999999 0 1 60 70 1\n",  # more digits than the fast reader takes
    ],
)
def test_files_the_fast_reader_declines_read_as_before(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fix.txt"
    path.write_text(text)
    assert _parse_plain(path.read_bytes().rstrip(b"\n")) is None
    slow, full = _both(path)
    if isinstance(slow, type):
        assert full is slow
    else:
        for key in KEYS:
            np.testing.assert_array_equal(getattr(full, key), getattr(slow, key))


def test_signs_points_and_truncation_toward_zero(tmp_path: Path) -> None:
    path = tmp_path / "fix.txt"
    path.write_text("440.0 a b -0.9 +7. 1\n.5 x y -12.75 0012 0\n")
    fixations = read_fixations(path)
    assert fixations.image.tolist() == [440, 0]
    assert fixations.center_x.tolist() == [0, -12] and fixations.center_y.tolist() == [7, 12]
    assert fixations.flag.tolist() == [1, 0]
