"""Find and check the generic HDF5 layout of a folder, reading only headers, shapes and ``session_info``.

``scan_folder(data_dir)`` returns what every session shows and where each stimulus comes from, after checking
every stimulus and response name by name; the arrays themselves are read later (:mod:`openretina_hdf5.reading`).
Every error names the file (and key) at fault and what was expected.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from attrs import define, field

from openretina_core import BadDataError, BadFileError
from openretina_core.data import load_npy, open_hdf5
from openretina_hdf5.constants import (
    RESPONSES_PREFIX,
    SESSION_INFO_GROUP,
    SESSION_STIMULUS_PREFIX,
    SESSION_SUFFIXES,
    STIMULUS_FOLDER,
    STIMULUS_SUFFIX,
)

logger = logging.getLogger(__name__)

Shape3 = tuple[int, int, int]


@define(frozen=True)
class StimulusSource:
    """Where one stimulus of a session comes from: a shared ``.npy`` file (``key`` None) or a session dataset."""

    name: str
    path: Path
    key: str | None
    shape: tuple[int, int, int, int]  # (C, T, H, W)
    dtype: str

    @property
    def label(self) -> str:
        return str(self.path) if self.key is None else f"{self.path}:{self.key}"

    @property
    def identity(self) -> tuple[str, str | None]:
        """Equal for two sessions exactly when they show the same stored array."""
        return (str(self.path), self.key)

    @property
    def n_frames(self) -> int:
        return int(self.shape[1])


@define(frozen=True)
class SessionLayout:
    """One ``<session>.h5``: its stimulus names (sorted), their sources, neuron count and metadata."""

    name: str
    path: Path
    stimulus_names: tuple[str, ...]
    sources: Mapping[str, StimulusSource]
    n_neurons: int
    session_info: dict[str, Any] = field(factory=dict)

    def train_names(self, test_names: Iterable[str]) -> list[str]:
        tests = set(test_names)
        return [n for n in self.stimulus_names if n not in tests]

    def test_names(self, test_names: Iterable[str]) -> list[str]:
        tests = set(test_names)
        return [n for n in self.stimulus_names if n in tests]


@define(frozen=True)
class FolderLayout:
    data_dir: Path
    sessions: Mapping[str, SessionLayout]  # sorted by name
    input_shape: Shape3  # (C, H, W)

    @property
    def stimulus_names(self) -> list[str]:
        return sorted({n for s in self.sessions.values() for n in s.stimulus_names})


def _check_stimulus_size(stimulus_size: Sequence[int] | None) -> Shape3 | None:
    if stimulus_size is None:
        return None
    size = tuple(int(v) for v in stimulus_size)
    if len(size) != 3 or min(size) < 1:
        raise BadDataError(
            f"stimulus_size must be (channels, height, width) of positive integers, received {stimulus_size!r}"
        )
    return (size[0], size[1], size[2])


def _numeric(dtype: np.dtype) -> bool:
    """Real numbers: complex values would lose their imaginary part when cast to float32."""
    return bool(dtype == np.bool_ or np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating))


def session_files(data_dir: Path) -> dict[str, Path]:
    """``{session: path}`` of every ``*.h5``/``*.hdf5`` directly in ``data_dir``, sorted by name."""
    found: dict[str, Path] = {}
    for path in sorted(data_dir.iterdir()):
        if not (path.is_file() and path.suffix in SESSION_SUFFIXES):
            continue
        if path.stem in found:
            raise BadDataError(
                f"{data_dir}: two files for session {path.stem!r} ({found[path.stem].name} and {path.name}); "
                f"keep one"
            )
        found[path.stem] = path
    return found


def read_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a ``.npy`` file without reading its data."""
    array = load_npy(path, "a plain numeric .npy array saved with numpy.save", mmap_mode="r")
    return tuple(int(s) for s in array.shape), array.dtype


def read_session_info(node: h5py.Group) -> dict[str, Any]:
    """Every dataset of ``session_info/`` as a numpy array (strings decoded); sub-groups become dicts."""
    out: dict[str, Any] = {}
    for key, item in node.items():
        if isinstance(item, h5py.Group):
            out[key] = read_session_info(item)
        elif h5py.check_string_dtype(item.dtype) is not None:
            out[key] = np.asarray(item.asstr()[()])
        else:
            out[key] = np.asarray(item[()])
    return out


class _SizeReference:
    """Checks every stimulus against ``(C, H, W)``: ``stimulus_size`` when given (the first mismatch is an
    error), else all stimuli must agree (checked once all are seen, so the error can list who has which)."""

    def __init__(self, stimulus_size: Shape3 | None) -> None:
        self.expected = stimulus_size
        self.seen: dict[Shape3, list[str]] = {}

    def check(self, source: StimulusSource) -> None:
        shape = source.shape
        if len(shape) != 4:
            raise BadDataError(
                f"{source.label}: stimulus {source.name!r} has shape {shape}; expected 4 axes "
                f"(channels, time, height, width)"
            )
        size = (shape[0], shape[2], shape[3])
        if self.expected is not None and size != self.expected:
            c, h, w = self.expected
            raise BadDataError(
                f"{source.label}: stimulus {source.name!r} has shape {shape}; expected ({c}, T, {h}, {w}) "
                f"(channels, time, height, width with (C, H, W) = stimulus_size {self.expected})"
            )
        labels = self.seen.setdefault(size, [])
        if source.label not in labels:
            labels.append(source.label)

    def resolve(self) -> Shape3:
        """The one ``(C, H, W)`` of every stimulus, or an error listing the stimuli of each size."""
        if len(self.seen) == 1:
            return next(iter(self.seen))
        if not self.seen:  # cannot happen: every session has at least one checked stimulus
            raise RuntimeError("no stimulus was checked")
        groups = "; ".join(
            f"(C, H, W) = {size}: {', '.join(labels[:3])}{' ...' if len(labels) > 3 else ''}"
            for size, labels in sorted(self.seen.items(), key=lambda item: -len(item[1]))
        )
        raise BadDataError(
            f"stimuli differ in channels or frame size; expected one (C, H, W) for all (pass stimulus_size= "
            f"to say which is right). Found {groups}"
        )


def _shared_source(name: str, path: Path, cache: dict[str, StimulusSource]) -> StimulusSource:
    if name not in cache:
        shape, dtype = read_npy_header(path)
        cache[name] = StimulusSource(name, path, None, shape, str(dtype))  # type: ignore[arg-type]
        if not _numeric(dtype):
            raise BadFileError(path, f"stimulus {name!r} has dtype {dtype}", "real numbers")
    return cache[name]


def scan_session(
    path: Path,
    shared_files: Mapping[str, Path],
    shared_cache: dict[str, StimulusSource],
    size: _SizeReference,
    stimulus_folder: Path,
) -> SessionLayout:
    """Check one session file against the layout and return what it shows."""
    with open_hdf5(path, "a readable HDF5 file: every *.h5/*.hdf5 in the folder is a session") as h5:
        keys = sorted(h5.keys())
        names = sorted(k.removeprefix(RESPONSES_PREFIX) for k in keys if k.startswith(RESPONSES_PREFIX))
        if not names:
            raise BadDataError(
                f"{path}: no '{RESPONSES_PREFIX}<name>' datasets; expected one (neurons, time) dataset per "
                f"stimulus shown. The file holds {keys}"
            )
        sources: dict[str, StimulusSource] = {}
        n_neurons: int | None = None
        first_key = ""
        for name in names:
            key = RESPONSES_PREFIX + name
            dset = h5[key]
            if not isinstance(dset, h5py.Dataset) or dset.ndim != 2 or not _numeric(dset.dtype):
                what = (
                    f"shape {dset.shape}, dtype {dset.dtype}" if isinstance(dset, h5py.Dataset) else "a group"
                )
                raise BadFileError(path, f"{key!r} is {what}", "a real-valued (neurons, time) dataset")
            if n_neurons is None:
                n_neurons, first_key = int(dset.shape[0]), key
            elif dset.shape[0] != n_neurons:
                raise BadDataError(
                    f"{path}: {key!r} has {dset.shape[0]} neurons but {first_key!r} has {n_neurons}; every "
                    f"responses_<name> of a session must have the same neurons (rows)"
                )
            own_key = SESSION_STIMULUS_PREFIX + name
            if own_key in h5:
                own = h5[own_key]
                if not isinstance(own, h5py.Dataset) or not _numeric(own.dtype):
                    raise BadFileError(
                        path,
                        f"{own_key!r} is dtype {getattr(own, 'dtype', 'a group')}",
                        "a real (C, T, H, W) dataset",
                    )
                source = StimulusSource(name, path, own_key, tuple(own.shape), str(own.dtype))  # type: ignore[arg-type]
            elif name in shared_files:
                source = _shared_source(name, shared_files[name], shared_cache)
            else:
                folder = "" if stimulus_folder.is_dir() else " (that folder does not exist)"
                raise BadDataError(
                    f"{path}: {key!r} has no stimulus: expected {stimulus_folder / (name + STIMULUS_SUFFIX)}"
                    f"{folder} or a {own_key!r} dataset in this file. Shared stimuli found: "
                    f"{sorted(shared_files) or 'none'}"
                )
            size.check(source)
            if source.n_frames != dset.shape[1]:
                raise BadDataError(
                    f"{path}: {key!r} has {dset.shape[1]} time bins but its stimulus {source.label} has "
                    f"{source.n_frames} frames; expected one response bin per stimulus frame"
                )
            sources[name] = source
        info_node = h5.get(SESSION_INFO_GROUP)
        if info_node is not None and not isinstance(info_node, h5py.Group):
            raise BadDataError(f"{path}: {SESSION_INFO_GROUP!r} must be a group of datasets, found a dataset")
        info = read_session_info(info_node) if info_node is not None else {}
    return SessionLayout(path.stem, path, tuple(names), sources, int(n_neurons or 0), info)


def scan_folder(
    data_dir: str | os.PathLike[str] | None,
    stimulus_size: Sequence[int] | None = None,
    sessions: Iterable[str] | None = None,
) -> FolderLayout:
    """Check ``data_dir`` against the layout (headers only) and return every session's stimuli and sources.

    ``stimulus_size`` is ``(C, H, W)``; without it all stimuli must agree. ``sessions``
    restricts the scan to these session names (file stems).
    """
    if data_dir is None:
        raise BadDataError(
            "dataset 'hdf5' reads a folder of your own: pass data_dir= pointing at the folder holding "
            f"{STIMULUS_FOLDER}/ and the <session>.h5 files (write an example with `openretina-data create-data "
            "DIR`)"
        )
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data_dir {str(root)!r} for dataset 'hdf5' is not a directory")
    files = session_files(root)
    if not files:
        raise FileNotFoundError(
            f"no session files in {str(root)!r}: expected one <session>.h5 or <session>.hdf5 per session "
            f"(with responses_<name> datasets) next to a {STIMULUS_FOLDER}/ folder of <name>.npy stimuli"
        )
    if sessions is not None:
        wanted = list(sessions)
        unknown = sorted(set(wanted) - set(files))
        if unknown:
            raise BadDataError(f"{root}: no session file for {unknown}; sessions are {sorted(files)}")
        files = {s: files[s] for s in sorted(set(wanted))}
    folder = root / STIMULUS_FOLDER
    shared_files = (
        {p.stem: p for p in sorted(folder.iterdir()) if p.suffix == STIMULUS_SUFFIX and p.is_file()}
        if folder.is_dir()
        else {}
    )
    size = _SizeReference(_check_stimulus_size(stimulus_size))
    shared_cache: dict[str, StimulusSource] = {}
    layouts = {s: scan_session(p, shared_files, shared_cache, size, folder) for s, p in files.items()}
    input_shape = size.resolve()
    logger.info(
        "%s: %d sessions, stimuli %s, %d shared in %s/",
        root,
        len(layouts),
        sorted({n for s in layouts.values() for n in s.stimulus_names}),
        len(shared_cache),
        STIMULUS_FOLDER,
    )
    return FolderLayout(root, layouts, input_shape)
