"""A scanned folder's layout as a prepared entry, so that a later load knows every session's stimuli, sources,
neuron count and ``session_info`` without opening a single HDF5 file.

The entry's key covers the options the scan depends on (``stimulus_size``, the selected sessions) and the
identity (path, size, modification time) of every file the scan reads: the selected session files and every
``stimuli/*.npy``. Adding, removing or rewriting any of them makes a new key, so the folder is scanned again.
The layout is recorded as JSON in the entry's metadata; numeric ``session_info`` arrays are stored as the
entry's arrays (exact), strings as JSON lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openretina_hdf5.layout import FolderLayout, SessionLayout, StimulusSource

Put = Callable[[str, np.ndarray], str]
_NUMERIC_KINDS = "biufc"


class NotStorableError(TypeError):
    """A ``session_info`` value the store cannot record exactly (then the folder is read into memory)."""


def _encode_info(value: Any, put: Put) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {"dict": {str(k): _encode_info(v, put) for k, v in value.items()}}
    array = np.asarray(value)
    if array.dtype.kind in _NUMERIC_KINDS:
        return {"array": put("info", array)}
    if array.dtype.kind == "U" or (
        array.dtype.kind == "O" and all(isinstance(v, str) for v in array.reshape(-1).tolist())
    ):
        return {"strings": array.reshape(-1).tolist(), "dtype": array.dtype.str, "shape": list(array.shape)}
    raise NotStorableError(f"session_info value of dtype {array.dtype} cannot be stored exactly")


def _decode_info(record: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
    if "dict" in record:
        return {k: _decode_info(v, arrays) for k, v in record["dict"].items()}
    if "array" in record:
        return np.array(arrays[record["array"]])  # small metadata: a plain in-memory copy
    dtype, flat = np.dtype(record["dtype"]), record["strings"]
    if dtype.kind == "O":
        strings = np.empty(len(flat), dtype=object)
        strings[:] = flat
        return strings.reshape(record["shape"])
    return np.asarray(flat, dtype=dtype).reshape(record["shape"])


def _source_json(source: StimulusSource) -> dict[str, Any]:
    return {
        "name": source.name,
        "path": str(source.path),
        "key": source.key,
        "shape": list(source.shape),
        "dtype": source.dtype,
    }


def _source(record: Mapping[str, Any]) -> StimulusSource:
    shape = tuple(int(s) for s in record["shape"])
    return StimulusSource(record["name"], Path(record["path"]), record["key"], shape, record["dtype"])  # type: ignore[arg-type]


def layout_to_json(layout: FolderLayout, put: Put) -> dict[str, Any]:
    """The layout as JSON; ``put(prefix, array)`` stores a numeric ``session_info`` array and returns its
    name. Raises :class:`NotStorableError` for a value that cannot be recorded exactly."""
    sessions = {}
    for name, session in layout.sessions.items():
        sessions[name] = {
            "path": str(session.path),
            "stimulus_names": list(session.stimulus_names),
            "sources": {n: _source_json(s) for n, s in session.sources.items()},
            "n_neurons": session.n_neurons,
            "session_info": _encode_info(session.session_info, put),
        }
    return {"data_dir": str(layout.data_dir), "input_shape": list(layout.input_shape), "sessions": sessions}


def layout_from_json(record: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> FolderLayout:
    """The :class:`FolderLayout` recorded by :func:`layout_to_json` (``arrays``: the entry's arrays)."""
    sessions = {}
    for name, spec in record["sessions"].items():
        sessions[name] = SessionLayout(
            name,
            Path(spec["path"]),
            tuple(spec["stimulus_names"]),
            {n: _source(s) for n, s in spec["sources"].items()},
            int(spec["n_neurons"]),
            _decode_info(spec["session_info"], arrays),
        )
    c, h, w = (int(v) for v in record["input_shape"])
    return FolderLayout(Path(record["data_dir"]), sessions, (c, h, w))


def layout_sources(session_paths: Sequence[Path], stimulus_paths: Sequence[Path]) -> list[Path]:
    """The files a scan reads, in a fixed order: what the layout entry's key covers."""
    return [*sorted(session_paths), *sorted(stimulus_paths)]
