"""Opening a dataset's files with errors that name them: HDF5 (and MATLAB v7.3) files and ``.npy`` arrays.

h5py and numpy report a damaged file without its path (``OSError: Unable to synchronously open file (file
signature not found)``, ``EOFError``, ``ValueError: cannot reshape array``); these helpers turn every such
failure, on opening and while reading, into a :class:`~openretina_core.registry.errors.BadFileError` carrying
the path and what the file should have been.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from openretina_core.registry.errors import BadFileError, MissingFileError, OpenRetinaDataError


class UnreadableFileError(BadFileError, OSError):
    """A file whose bytes its format's reader refuses (h5py, numpy): empty, truncated or not that format.

    Also an ``OSError``, which h5py raised for such files before.
    """


# What h5py raises for a damaged file while reading (a bad B-tree, a heap past the end, a failed filter).
_READ_ERRORS = (OSError, RuntimeError, EOFError)


def _raised_by_h5py(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is h5py's (a read of the file failed)."""
    tb = exc.__traceback__
    innermost = None
    while tb is not None:
        innermost, tb = tb, tb.tb_next
    return innermost is not None and str(innermost.tb_frame.f_globals.get("__name__", "")).startswith("h5py")


@contextmanager
def open_hdf5(path: str | os.PathLike[str], expected: str = "an HDF5 file") -> Iterator[Any]:
    """``with open_hdf5(path) as h5:`` an ``h5py.File`` opened read-only.

    A missing file gives a ``MissingFileError``; a file h5py cannot open, or one whose bytes fail while the
    block reads them, a ``BadFileError`` naming ``path`` and ``expected``. Errors of our own hierarchy raised
    inside the block pass through unchanged.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, f"{path}: no such file; expected {expected}")
    try:
        handle = h5py.File(path, "r")
    except _READ_ERRORS as exc:
        raise UnreadableFileError(path, f"not readable as HDF5 ({exc})", expected) from exc
    try:
        with handle:
            yield handle
    except OpenRetinaDataError:
        raise
    except KeyError as exc:  # h5py's "Unable to synchronously open object": missing, or a damaged header
        if not _raised_by_h5py(exc):
            raise
        raise MissingKeyError(
            path, "", f"an object cannot be opened ({exc.args[0] if exc.args else exc})", expected
        ) from exc
    except _READ_ERRORS as exc:
        if not _raised_by_h5py(exc):
            raise  # the caller's own failure (a full disk, an interrupt): not the file's
        raise UnreadableFileError(
            path, f"damaged: reading it failed ({type(exc).__name__}: {exc})", expected
        ) from exc


def load_npy(
    path: str | os.PathLike[str], expected: str = "a .npy array", mmap_mode: Any = None
) -> np.ndarray:
    """``np.load`` of one ``.npy`` array (never a pickle), a damaged header or short data a ``BadFileError``."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, f"{path}: no such file; expected {expected}")
    try:
        array = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except ValueError as exc:
        problem = (
            "holds Python objects (a pickle), which are refused"
            if "allow_pickle" in str(exc) or "Python objects" in str(exc)
            else f"not readable as .npy ({exc})"
        )
        raise BadFileError(path, problem, expected) from exc
    except (OSError, EOFError, TypeError, SyntaxError, UnicodeDecodeError) as exc:
        raise UnreadableFileError(
            path, f"not readable as .npy ({type(exc).__name__}: {exc})", expected
        ) from exc
    if not isinstance(array, np.ndarray):  # an .npz archive
        raise BadFileError(path, f"holds a {type(array).__name__}, not one array", expected)
    return array


class MissingKeyError(BadFileError, KeyError):
    """A key (an HDF5 dataset, a pickle entry) the file should hold is missing or of the wrong kind.

    Also a ``KeyError``, which readers raised before; its message is not quoted like a bare ``KeyError``'s.
    """

    def __init__(self, path: str | os.PathLike[str], key: str, problem: str, expected: str | None = None):
        self.key = key
        super().__init__(path, problem, expected)

    def __str__(self) -> str:
        return str(self.args[0])
