"""Safe loading of published pickles: hash check first, then a restricted unpickler.

``pickle.load`` runs whatever callable a file names, so a tampered download could execute code. The
unpickler here resolves only the globals that numpy arrays, dtypes, numpy scalars and plain containers need
and refuses everything else, naming the file and the refused global. Arrays are rebuilt as views of the
bytes read from the file (no second copy of a multi-GB movie while unpickling); they are read-only.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from openretina_core.registry.errors import (
    BadFileError,
    DataIntegrityError,
    MissingFileError,
    OpenRetinaDataError,
)

logger = logging.getLogger(__name__)

_HASH_CHUNK = 1 << 22


class UnsafePickleError(OpenRetinaDataError, pickle.UnpicklingError):
    """The pickle names a global outside the allow-list (it could run code), or holds object arrays."""


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks (bounded memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise ``DataIntegrityError`` (a ``ValueError``) unless the file's sha256 equals ``expected``."""
    actual = file_sha256(path)
    if actual.lower() != expected.lower():
        raise DataIntegrityError(
            f"{path}: sha256 mismatch (expected {expected.lower()}, received {actual}). The file is corrupt or "
            f"not the published one; delete it and download it again (download=True)."
        )


class _ArrayState:
    """Stands in for an ndarray while unpickling: keeps the raw bytes so the array can be a view of them."""

    def __init__(self, shape: Any = (0,), typecode: Any = b"b") -> None:
        self.state: tuple[Any, ...] | None = None

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.state = state

    def to_array(self, source: str) -> np.ndarray:
        if self.state is None:
            raise UnsafePickleError(f"{source}: an array in the pickle has no data")
        state = self.state[1:] if len(self.state) == 5 else self.state
        shape, dtype, is_fortran, raw = state
        dtype = _checked_dtype(dtype, source)
        if isinstance(raw, str):  # Python 2 era pickles store the bytes as latin-1 text
            raw = raw.encode("latin1")
        if not isinstance(raw, (bytes, bytearray)):
            raise UnsafePickleError(
                f"{source}: array data of type {type(raw).__name__} refused (object arrays)"
            )
        array = np.frombuffer(raw, dtype=dtype)
        order: Literal["C", "F"] = "F" if is_fortran else "C"
        return array.reshape(tuple(int(s) for s in shape), order=order)


def _checked_dtype(dtype: Any, source: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise UnsafePickleError(f"{source}: arrays of dtype {dtype} (Python objects) are refused")
    return dtype


class _NdarrayMarker:
    """What the pickle gets for ``numpy.ndarray``: usable only as ``_reconstruct``'s first argument."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsafePickleError("calling numpy.ndarray directly from a pickle is refused")


_NDARRAY = _NdarrayMarker()


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> _ArrayState:
    if cls is not _NDARRAY:
        raise UnsafePickleError(f"array reconstruction of {cls!r} refused (only numpy.ndarray)")
    return _ArrayState(shape, typecode)


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
    dtype = _checked_dtype(dtype, "pickle")
    if order not in ("C", "F"):
        raise UnsafePickleError(f"array order {order!r} refused")
    array = np.frombuffer(buffer, dtype=dtype)
    return array.reshape(tuple(int(s) for s in shape), order="F" if order == "F" else "C")


def _scalar(dtype: Any, data: Any = None) -> Any:
    dtype = _checked_dtype(dtype, "pickle")
    if isinstance(data, str):
        data = data.encode("latin1")
    if not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError(f"numpy scalar data of type {type(data).__name__} refused")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _latin1_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    if not isinstance(obj, str) or encoding.replace("-", "").lower() not in {"latin1", "utf8"}:
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r} on {type(obj).__name__} refused")
    return obj.encode(encoding, errors)


def _plain(module: str, name: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(module), name)


_BUILTIN_TYPES = (
    "dict",
    "list",
    "tuple",
    "set",
    "frozenset",
    "int",
    "float",
    "complex",
    "str",
    "bytes",
    "bytearray",
    "bool",
    "slice",
    "range",
)

# (module, name) -> the object handed to the unpickler. numpy moved ``core`` to ``_core`` in 2.0; pickles
# written by either version name either module.
_ALLOWED: dict[tuple[str, str], Callable[[], Any]] = {
    ("numpy", "ndarray"): lambda: _NDARRAY,
    ("numpy", "dtype"): lambda: np.dtype,
    **{
        (m, "_reconstruct"): (lambda: _reconstruct)
        for m in ("numpy.core.multiarray", "numpy._core.multiarray")
    },
    **{(m, "scalar"): (lambda: _scalar) for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "_frombuffer"): (lambda: _frombuffer) for m in ("numpy.core.numeric", "numpy._core.numeric")},
    ("_codecs", "encode"): lambda: _latin1_encode,
    ("collections", "OrderedDict"): lambda: _plain("collections", "OrderedDict"),
    **{("builtins", n): functools.partial(_plain, "builtins", n) for n in _BUILTIN_TYPES},
    **{
        ("__builtin__", n): functools.partial(_plain, "builtins", n)
        for n in ("set", "frozenset", "slice", "complex")
    },
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that admits numpy arrays, dtypes, scalars and plain containers only."""

    def __init__(self, file: BinaryIO, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        factory = _ALLOWED.get((module, name))
        if factory is None:
            raise UnsafePickleError(
                f"{self.source}: refused to load global {module}.{name}; only numpy arrays, dtypes and plain "
                f"containers are allowed in this file. It may have been tampered with; do not load it with "
                f"pickle.load."
            )
        return factory()

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: persistent ids are refused")


def _materialise(obj: Any, source: str, seen: dict[int, Any]) -> Any:
    """Replace every array placeholder by its array, through dicts, lists and tuples."""
    key = id(obj)
    if key in seen:
        return seen[key]
    if isinstance(obj, _ArrayState):
        result: Any = obj.to_array(source)
    elif isinstance(obj, dict):
        result = obj
        seen[key] = result
        for k in list(obj):
            obj[k] = _materialise(obj[k], source, seen)
        return result
    elif isinstance(obj, list):
        result = obj
        seen[key] = result
        obj[:] = [_materialise(v, source, seen) for v in obj]
        return result
    elif isinstance(obj, tuple):
        result = tuple(_materialise(v, source, seen) for v in obj)
    else:
        result = obj
    seen[key] = result
    return result


def load_pickle(path: str | os.PathLike[str], sha256: str | None = None) -> Any:
    """Load a pickle of numpy arrays and plain containers safely.

    With ``sha256``, the file is verified before a single byte is unpickled. Anything but numpy arrays,
    dtypes, scalars and builtin containers raises :class:`UnsafePickleError` (nothing is executed).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, f"stimulus pickle {str(path)!r} does not exist")
    if sha256 is not None:
        verify_sha256(path, sha256)
    else:
        logger.debug("%s: no known sha256; loading with the restricted unpickler only", path)
    with open(path, "rb") as handle:
        try:
            raw = RestrictedUnpickler(handle, str(path)).load()
        except OpenRetinaDataError:
            raise
        except (
            pickle.UnpicklingError,
            EOFError,
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            AttributeError,
            OverflowError,
            UnicodeDecodeError,
            MemoryError,
            RecursionError,
        ) as exc:
            # An empty, truncated or random file: the unpickler's own message names neither file nor format.
            raise BadFileError(
                path, f"not readable as a pickle ({type(exc).__name__}: {exc})", "an intact pickle file"
            ) from exc
    return _materialise(raw, str(path), {})
