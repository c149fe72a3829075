"""Damaging a valid file the ways a download, a disk or a user does, for tests of the errors that follow.

``damage_file(path, kind)`` rewrites ``path`` in place: ``"empty"`` (zero bytes), ``"truncated"`` (cut at a
third of its size), ``"random"`` (as many random bytes as it had). ``assert_names_file`` checks an error is
one of ours and names the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from openretina_core.registry.errors import OpenRetinaDataError

DAMAGE_KINDS = ("empty", "truncated", "random")


def damage_file(path: str | os.PathLike[str], kind: str, seed: int = 0) -> Path:
    """Damage ``path`` in place as ``kind`` (one of ``DAMAGE_KINDS``); returns the path."""
    path = Path(path)
    data = path.read_bytes()
    if kind == "empty":
        damaged = b""
    elif kind == "truncated":
        damaged = data[: max(1, len(data) // 3)]
    elif kind == "random":
        damaged = np.random.default_rng(seed).integers(0, 256, size=len(data), dtype=np.uint8).tobytes()
    else:
        raise ValueError(f"kind must be one of {DAMAGE_KINDS}, got {kind!r}")
    path.write_bytes(damaged)
    return path


def assert_names_file(error: BaseException, path: str | os.PathLike[str]) -> None:
    """``error`` is an ``OpenRetinaDataError`` whose message names ``path``."""
    if not isinstance(error, OpenRetinaDataError):
        raise AssertionError(f"expected an OpenRetinaDataError, got {type(error).__name__}: {error}")
    if str(path) not in str(error) and Path(path).name not in str(error):
        raise AssertionError(f"the error does not name {path}: {error}")
