"""A generic-layout folder through the core's prepared store: scanned and read once, mapped afterwards.

Three kinds of entries (``<cache>/hdf5/.openretina/prepared/``), each keyed by the options that change it and
the identity (path, size, modification time) of the files it is made from:

* ``_layout``: the scanned layout (every session's stimuli, sources, neurons, ``session_info``), so a later load
  opens no HDF5 file to learn it (``prepared_layout.py``);
* ``<session>``: the session's responses (train names concatenated, test stimuli by name);
* ``_stimuli``: each distinct stimulus sequence (a session's train movie or one test stimulus) that is derived:
  concatenated, normalised, read from a session's HDF5 file, or stored channel-major in its ``.npy``. Time-major
  ``(T, C, H, W)``, float32, or in the published dtype when that is uint8/int8/float16 (with the normalisation
  as the movie's map to float32). Sessions showing the same sequence share the entry, and one mapping per load.

A shared ``stimuli/<name>.npy`` that already is what the loaders gather from (one stimulus alone, its time-major
view contiguous, i.e. one channel; float32 with ``norm_mean=0, norm_std=1``, or a narrow dtype kept compact) is
not copied: it is mapped in place (copy-on-write) from the user's folder. Its finiteness is checked once, and
that check is recorded in a small ``_stimuli`` entry keyed by the file's identity: a file whose size or
modification time changes is checked again (and the stale record removed) before it is mapped.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openretina_core import BadFileError
from openretina_core.data import (
    ResponsesTrainTestSplit,
    StimulusMap,
    as_compact,
    check_finite,
    keeps_compact,
    load_npy,
    open_hdf5,
)
from openretina_core.store import EntryWriter, PreparedArray, prepare_entry, prepared_session
from openretina_hdf5.constants import DATASET_ID, STIMULUS_FOLDER, STIMULUS_SUFFIX
from openretina_hdf5.layout import FolderLayout, StimulusSource, scan_folder, session_files
from openretina_hdf5.prepared_layout import NotStorableError, layout_from_json, layout_sources, layout_to_json
from openretina_hdf5.reading import (
    Hdf5Data,
    MovieBuilder,
    check_test_names,
    copy_source,
    load_hdf5,
    read_responses,
)

logger = logging.getLogger(__name__)

# Bump when what the readers return changes: entries of another version are never served.
STORE_VERSION = 1
LAYOUT_SESSION = "_layout"
STIMULI_SESSION = "_stimuli"
_BLOCK_BYTES = 4 << 20


def _listed_files(
    data_dir: str | Any, sessions: Iterable[str] | None
) -> tuple[Path, dict[str, Path], list[Path]] | None:
    """The folder, its selected session files and its ``stimuli/*.npy`` from a directory listing (no file is
    opened); None when the folder is not a valid layout (the scan then raises the error that says why)."""
    if data_dir is None:
        return None
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        return None
    files = session_files(root)
    if sessions is not None:
        wanted = sorted(set(sessions))
        if not files or set(wanted) - set(files):
            return None
        files = {s: files[s] for s in wanted}
    if not files:
        return None
    folder = root / STIMULUS_FOLDER
    shared = (
        sorted(p for p in folder.iterdir() if p.suffix == STIMULUS_SUFFIX and p.is_file())
        if folder.is_dir()
        else []
    )
    return root, files, shared


def prepared_layout(
    root: Path,
    files: dict[str, Path],
    shared: list[Path],
    stimulus_size: Sequence[int] | None,
) -> FolderLayout:
    """The folder's layout, scanned on the first load and read from its entry afterwards."""

    def build(writer: EntryWriter) -> None:
        layout = scan_folder(root, stimulus_size, list(files))
        count = iter(range(1 << 62))

        def put(prefix: str, array: np.ndarray) -> str:
            name = f"{prefix}{next(count)}"
            writer.put(name, array)
            return name

        writer.user_meta["layout"] = layout_to_json(layout, put)

    params = {
        "kind": "layout",
        "stimulus_size": None if stimulus_size is None else [int(v) for v in stimulus_size],
        "sessions": sorted(files),
    }
    sources = layout_sources(list(files.values()), shared)
    entry = prepare_entry(
        DATASET_ID, LAYOUT_SESSION, params=params, sources=sources, build=build, version=STORE_VERSION
    )
    return layout_from_json(entry.user_meta["layout"], entry.arrays)


def _maps_in_place(sources: Sequence[StimulusSource], norm: tuple[float, float], store_dtype: str) -> bool:
    """One shared ``.npy`` whose time-major view is contiguous (one channel), float32 and not normalised, or
    in a dtype kept compact: the loaders can gather from the user's file itself."""
    if len(sources) != 1 or sources[0].key is not None:
        return False
    source = sources[0]
    if source.shape[0] != 1:  # (C, T, H, W) with C > 1: time-major is another order of the bytes
        return False
    if keeps_compact(source.dtype, store_dtype):
        return True
    return np.dtype(source.dtype) == np.float32 and norm == (0.0, 1.0)


def _check_finite_once(source: StimulusSource) -> None:
    """Record (in a ``_stimuli`` entry keyed by the file's identity) that the file holds only finite values,
    reading it once; a later load with the file unchanged reads nothing."""

    def build(writer: EntryWriter) -> None:
        mapped = load_npy(source.path, "a .npy stimulus (C, T, H, W)", mmap_mode="r")
        if mapped.dtype.kind == "f":
            step = max(1, _BLOCK_BYTES // max(1, mapped[:, :1].nbytes))
            for start in range(0, mapped.shape[1], step):
                check_finite(np.asarray(mapped[:, start : start + step]), source.path, source.name)
        writer.user_meta["checked"] = {"path": str(source.path), "finite": True}

    prepare_entry(
        DATASET_ID,
        STIMULI_SESSION,
        params={"kind": "checked in place", "dtype": source.dtype},
        sources=[source.path],
        build=build,
        version=STORE_VERSION,
    )


def _in_place(source: StimulusSource, norm: tuple[float, float]) -> np.ndarray:
    _check_finite_once(source)
    mapped = load_npy(source.path, "a .npy stimulus (C, T, H, W)", mmap_mode="c")
    if tuple(mapped.shape) != source.shape or str(mapped.dtype) != source.dtype:
        raise BadFileError(
            source.path,
            f"holds {mapped.dtype} {mapped.shape} but was {source.dtype} {source.shape} when scanned",
            "the file the layout was scanned from (load again: it is scanned anew)",
        )
    view = np.asarray(mapped).view(PreparedArray)
    view.verified_finite = True
    if view.dtype == np.float32:
        return view
    return as_compact(view, StimulusMap(norm[0], norm[1]))


def _copy_raw(source: StimulusSource, out: np.ndarray) -> None:
    """``out[t] = source[:, t]`` in the published dtype (a compact sequence), block by block."""

    def copy(array: Any) -> None:
        step = max(1, _BLOCK_BYTES // max(1, out[:1].nbytes))
        for start in range(0, source.n_frames, step):
            out[start : start + step] = np.moveaxis(array[:, start : start + step], 0, 1)

    if source.key is None:
        copy(load_npy(source.path, "a .npy stimulus (C, T, H, W)", mmap_mode="r"))
    else:
        with open_hdf5(source.path, "a session file (HDF5)") as h5:
            copy(h5[source.key])


def _stored(
    sources: Sequence[StimulusSource],
    shape: tuple[int, int, int],
    norm: tuple[float, float],
    store_dtype: str,
) -> np.ndarray:
    dtypes = {np.dtype(s.dtype) for s in sources}
    dtype = dtypes.pop() if len(dtypes) == 1 else np.dtype(np.float32)
    compact = keeps_compact(dtype, store_dtype)
    stored = dtype if compact else np.dtype(np.float32)
    c, h, w = shape

    def build(writer: EntryWriter) -> None:
        out = writer.allocate("movie", (sum(s.n_frames for s in sources), c, h, w), stored)
        offset = 0
        for source in sources:
            part = out[offset : offset + source.n_frames]
            if compact:
                _copy_raw(source, part)
                writer.filled("movie", offset + source.n_frames)
            else:  # each block hashed by the writer while the next one is copied
                copy_source(source, part, *norm, done=_filled(writer, offset))
            offset += source.n_frames
        if compact:
            writer.user_meta["map"] = StimulusMap(norm[0], norm[1]).to_json()

    params = {
        "kind": "sequence",
        "sources": [[s.name, s.key, list(s.shape), s.dtype] for s in sources],
        "norm_mean": norm[0],
        "norm_std": norm[1],
        "store_dtype": store_dtype,
    }
    paths = list(dict.fromkeys(s.path for s in sources))
    entry = prepare_entry(
        DATASET_ID, STIMULI_SESSION, params=params, sources=paths, build=build, version=STORE_VERSION
    )
    movie = np.moveaxis(entry["movie"], 0, 1)  # (C, T, H, W) view of the time-major file
    stimulus_map = entry.user_meta.get("map")
    return as_compact(movie, StimulusMap.from_json(stimulus_map)) if stimulus_map else movie


def _filled(writer: EntryWriter, offset: int) -> Callable[[int], None]:
    """``done(frames)`` for a source copied to rows from ``offset``: those rows of the entry's movie are final."""

    def done(frames: int) -> None:
        writer.filled("movie", offset + frames)

    return done


class PreparedMovieBuilder(MovieBuilder):
    """:class:`MovieBuilder` whose sequences are mapped (from the store, or from the user's ``.npy`` in place)
    instead of built in memory; sessions showing the same sequence share one mapping and one container."""

    def __init__(self, *args: Any, store_dtype: str = "published", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store_dtype = store_dtype
        self.in_place: list[str] = []

    def sequence(self, sources: Sequence[StimulusSource]) -> np.ndarray:
        key = tuple(s.identity for s in sources)
        if key in self._sequences or not sources:  # the empty train movie of a test-only session: in memory
            return super().sequence(sources)
        norm = (self.norm_mean, self.norm_std)
        if _maps_in_place(sources, norm, self.store_dtype):
            movie = _in_place(sources[0], norm)
            self.in_place.append(sources[0].label)
        else:
            movie = _stored(sources, self.input_shape, norm, self.store_dtype)
        self._sequences[key] = movie
        self.copies += 1
        self.nbytes += int(movie.nbytes)
        return movie


def _responses(session: Any, tests: list[str]) -> ResponsesTrainTestSplit:
    """The session's responses from its entry, with ``session_info`` from the layout (kept out of the entry:
    it may hold nested groups and strings, which the layout entry records)."""

    def read() -> tuple[None, ResponsesTrainTestSplit]:
        full = read_responses(session, tests)
        return None, _split(full.train, full.test_dict, {})

    with warnings.catch_warnings():  # the (N, 0) train of a test-only session, rebuilt from its entry
        warnings.filterwarnings("ignore", r".*than time bins \(0\)", UserWarning)
        _, stored = prepared_session(
            DATASET_ID,
            session.name,
            params={"kind": "responses", "test_names": tests},
            sources=[session.path],
            read=read,
            version=STORE_VERSION,
        )
    assert stored is not None
    return _split(stored.train, stored.test_dict, session.session_info)


def _split(
    train: np.ndarray, tests: dict[str, np.ndarray], kwargs: dict[str, Any]
) -> ResponsesTrainTestSplit:
    with warnings.catch_warnings():
        if not train.shape[
            1
        ]:  # (N, 0) of a test-only session: the container's axis-order hint does not apply
            warnings.simplefilter("ignore", UserWarning)
        return ResponsesTrainTestSplit(train=train, test_dict=dict(tests), session_kwargs=kwargs)


def load_hdf5_prepared(
    base_data_path: Any,
    test_names: Iterable[str] = (),
    stimulus_size: Sequence[int] | None = None,
    norm_mean: float | None = None,
    norm_std: float | None = None,
    sessions: Iterable[str] | None = None,
    store_dtype: str = "published",
) -> Hdf5Data:
    """What :func:`openretina_hdf5.reading.load_hdf5` returns, through the prepared store: the first load scans
    and reads the folder once into entries, later loads map them and open no HDF5 file."""
    listed = _listed_files(base_data_path, sessions)
    if listed is None:  # not a valid folder: the scan raises the error that names the problem
        return load_hdf5(base_data_path, test_names, stimulus_size, norm_mean, norm_std, sessions)
    root, files, shared = listed
    try:
        layout = prepared_layout(root, files, shared, stimulus_size)
    except NotStorableError as exc:
        logger.warning("%s: %s; this folder is read into memory instead of the prepared store", root, exc)
        return load_hdf5(base_data_path, test_names, stimulus_size, norm_mean, norm_std, sessions)
    tests = check_test_names(layout, test_names)
    builder = PreparedMovieBuilder(
        layout.input_shape, norm_mean or 0.0, 1.0 if norm_std is None else norm_std, store_dtype=store_dtype
    )
    responses = {name: _responses(session, tests) for name, session in layout.sessions.items()}
    movies = {name: builder.movies(session, tests) for name, session in layout.sessions.items()}
    if builder.in_place:
        logger.info("mapped in place from the data folder: %s", builder.in_place)
    return Hdf5Data(movies, responses, layout, tests, builder.copies, builder.nbytes)
