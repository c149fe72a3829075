"""Read a scanned folder into containers: each distinct stimulus sequence once, shared by every session.

A session's training movie is its non-test stimuli concatenated along time in sorted name order; its responses
are concatenated in the same order, so frame ``t`` and bin ``t`` stay aligned. Each distinct sequence (the same
stored arrays in the same order) is built once into a float32 time-major ``(T, C, H, W)`` buffer, copied block
by block from the memory-mapped ``.npy`` (or the session's HDF5 dataset) and normalised while the block is hot;
the containers hold its ``(C, T, H, W)`` view, so the dataloader builder stores it without another copy and
sessions that show the same stimuli share one buffer (and one container when everything they show is equal).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from attrs import define

from openretina_core import BadDataError, BadFileError
from openretina_core.data import (
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    check_finite,
    load_npy,
    open_hdf5,
    surely_finite,
)
from openretina_hdf5.constants import READ_BLOCK_BYTES, RESPONSES_PREFIX
from openretina_hdf5.layout import FolderLayout, SessionLayout, StimulusSource, scan_folder

logger = logging.getLogger(__name__)


def _copy_blocks(
    source: Any,
    out: np.ndarray,
    mean: np.float32,
    std: np.float32,
    done: Callable[[int], object] | None = None,
) -> bool:
    """``out[t] = (source[:, t] - mean) / std`` for a ``(C, T, H, W)`` source into ``(T, C, H, W)`` float32,
    a block at a time; ``done(frames)`` after each block. Returns whether every value proved finite while its
    block was hot (False: NaN or inf may be there, and the caller counts them)."""
    channels, n_frames, height, width = source.shape
    per_block = max(1, READ_BLOCK_BYTES // max(1, channels * height * width * 4))
    normalise = mean != 0 or std != 1
    finite = True
    for start in range(0, n_frames, per_block):
        stop = min(n_frames, start + per_block)
        block = out[start:stop]
        block[...] = np.moveaxis(source[:, start:stop], 0, 1)  # one block read (and cast) at a time
        if normalise:
            np.subtract(block, mean, out=block)
            np.divide(block, std, out=block)
        finite = finite and surely_finite(block)
        if done is not None:
            done(stop)
    return finite


def copy_source(
    source: StimulusSource,
    out: np.ndarray,
    mean: float,
    std: float,
    done: Callable[[int], object] | None = None,
) -> None:
    """Fill ``out`` (``(T, C, H, W)`` float32) from a shared ``.npy`` (memory-mapped) or a session dataset;
    ``done(frames)`` after each block (e.g. the store hashing the rows filled so far)."""
    m, s = np.float32(mean), np.float32(std)
    if source.key is None:
        mapped = load_npy(source.path, "a .npy stimulus (C, T, H, W)", mmap_mode="r")
        try:
            finite = _copy_blocks(mapped, out, m, s, done)
        except (OSError, ValueError) as exc:  # a file shorter than its header says
            raise BadFileError(
                source.path, f"its data cannot be read ({exc})", "the bytes its header promises"
            ) from exc
        del mapped  # unmapped here: only one stimulus file is mapped at a time
    else:
        with open_hdf5(source.path, "a session file (HDF5)") as h5:
            finite = _copy_blocks(h5[source.key], out, m, s, done)
    if not finite:  # count them for the message
        check_finite(out, source.path, source.key or source.name)


class MovieBuilder:
    """Builds each distinct stimulus sequence once and each distinct container once.

    ``copies`` counts the buffers built; ``nbytes`` their size (what the movies occupy in memory).
    """

    def __init__(self, input_shape: tuple[int, int, int], norm_mean: float, norm_std: float) -> None:
        if not norm_std > 0:
            raise BadDataError(f"norm_std must be positive, received {norm_std}")
        self.input_shape = input_shape
        self.norm_mean, self.norm_std = float(norm_mean), float(norm_std)
        self._sequences: dict[tuple[tuple[str, str | None], ...], np.ndarray] = {}
        self._containers: dict[Any, MoviesTrainTestSplit] = {}
        self.copies = 0
        self.nbytes = 0

    def sequence(self, sources: Sequence[StimulusSource]) -> np.ndarray:
        """The ``(C, T, H, W)`` view of one float32 ``(T, C, H, W)`` buffer holding ``sources`` in order."""
        key = tuple(s.identity for s in sources)
        if key not in self._sequences:
            c, h, w = self.input_shape
            buffer = np.empty((sum(s.n_frames for s in sources), c, h, w), dtype=np.float32)
            offset = 0
            for source in sources:
                copy_source(source, buffer[offset : offset + source.n_frames], self.norm_mean, self.norm_std)
                offset += source.n_frames
            self._sequences[key] = buffer.transpose(1, 0, 2, 3)
            self.copies += bool(sources)  # the empty train movie of a test-only session holds nothing
            self.nbytes += buffer.nbytes
            logger.info(
                "stimulus sequence %s: %d frames (%.1f MB float32)",
                [s.name for s in sources],
                buffer.shape[0],
                buffer.nbytes / 1e6,
            )
        return self._sequences[key]

    def movies(self, session: SessionLayout, test_names: Iterable[str]) -> MoviesTrainTestSplit:
        """The session's container; sessions showing the same arrays get the same object. A session whose
        stimuli are all test stimuli gets an empty ``(C, 0, H, W)`` train movie."""
        train = [session.sources[n] for n in session.train_names(test_names)]
        tests = {n: session.sources[n] for n in session.test_names(test_names)}
        key = (tuple(s.identity for s in train), tuple((n, s.identity) for n, s in tests.items()))
        if key not in self._containers:
            train_view = self.sequence(train)
            test_views = {n: self.sequence([s]) for n, s in tests.items()}
            try:
                with warnings.catch_warnings():
                    if not train:  # (C, 0, H, W): the container's axis-order hint does not apply
                        warnings.simplefilter("ignore", UserWarning)
                    container = MoviesTrainTestSplit(
                        train=train_view,
                        test_dict=test_views,
                        norm_mean=self.norm_mean,
                        norm_std=self.norm_std,
                    )
            except ValueError as exc:
                raise BadDataError(
                    f"session {session.name!r}: {exc}{self._non_finite(train, tests)}"
                ) from exc
            self._containers[key] = container
        return self._containers[key]

    def _non_finite(self, train: list[StimulusSource], tests: dict[str, StimulusSource]) -> str:
        """Which stored stimuli hold NaN or infinity (only looked up when a container refused a movie)."""
        bad = [s.label for s in [*train, *tests.values()] if not np.isfinite(self.sequence([s])).all()]
        return f" (NaN or infinite values in {bad})" if bad else ""


def read_responses(session: SessionLayout, test_names: Iterable[str]) -> ResponsesTrainTestSplit:
    """The session's responses: train names concatenated in sorted order, test stimuli by name.

    Each dataset is read by HDF5 straight into its columns of one float32 ``(N, T)`` array (converted by HDF5
    from any stored dtype: no temporary, no float64 detour). ``session_kwargs`` is the ``session_info/``
    group. A session showing only test stimuli gets an empty ``(N, 0)`` train array.
    """
    train_names = session.train_names(test_names)
    n = session.n_neurons
    train = np.empty((n, sum(session.sources[x].n_frames for x in train_names)), dtype=np.float32)
    tests: dict[str, np.ndarray] = {}
    with open_hdf5(session.path, "a session file (HDF5)") as h5:
        offset = 0
        for name in train_names:
            dset = h5[RESPONSES_PREFIX + name]
            n_bins = int(dset.shape[1])
            if dset.size:
                dset.read_direct(train, dest_sel=np.s_[:, offset : offset + n_bins])
            offset += n_bins
        for name in session.test_names(test_names):
            dset = h5[RESPONSES_PREFIX + name]
            tests[name] = np.empty(dset.shape, dtype=np.float32)
            if dset.size:
                dset.read_direct(tests[name])
    check_finite(train, session.path, f"{RESPONSES_PREFIX}<train stimuli>", allow_nan=True)
    for name, array in tests.items():
        check_finite(array, session.path, RESPONSES_PREFIX + name, allow_nan=True)
    with warnings.catch_warnings():
        if (
            not train_names
        ):  # (N, 0) is not a transposed array; the container's axis-order hint does not apply
            warnings.simplefilter("ignore", UserWarning)
        return ResponsesTrainTestSplit(train=train, test_dict=tests, session_kwargs=session.session_info)


def check_test_names(layout: FolderLayout, test_names: Iterable[str]) -> list[str]:
    """``test_names`` as a sorted list; a name no session shows is an error (a misspelt name is not silent)."""
    if isinstance(test_names, str):
        test_names = [test_names]
    names = sorted(set(test_names))
    unknown = [n for n in names if n not in layout.stimulus_names]
    if unknown:
        raise BadDataError(
            f"{layout.data_dir}: test_names {unknown} match no stimulus with responses; the stimuli are "
            f"{layout.stimulus_names}"
        )
    return names


@define(frozen=True)
class Hdf5Data:
    """What :func:`load_hdf5` read: containers of every session (sorted), the layout, and the movie buffers."""

    movies: dict[str, MoviesTrainTestSplit]
    responses: dict[str, ResponsesTrainTestSplit]
    layout: FolderLayout
    test_names: list[str]
    movie_buffers: int  # distinct stimulus sequences held in memory
    movie_bytes: int  # their float32 size


def load_hdf5(
    base_data_path: str | os.PathLike[str] | None,
    test_names: Iterable[str] = (),
    stimulus_size: Sequence[int] | None = None,
    norm_mean: float | None = None,
    norm_std: float | None = None,
    sessions: Iterable[str] | None = None,
) -> Hdf5Data:
    """Scan, check and read the folder: ``{session: movies}`` and ``{session: responses}`` of every session.

    Movies of sessions that show the same stimuli are the same object; sessions whose stimuli are all test
    stimuli have empty train arrays. Responses are read before any movie, so their checks fail fast.
    """
    layout = scan_folder(base_data_path, stimulus_size, sessions)
    tests = check_test_names(layout, test_names)
    builder = MovieBuilder(layout.input_shape, norm_mean or 0.0, 1.0 if norm_std is None else norm_std)
    responses = {name: read_responses(session, tests) for name, session in layout.sessions.items()}
    movies = {name: builder.movies(session, tests) for name, session in layout.sessions.items()}
    return Hdf5Data(movies, responses, layout, tests, builder.copies, builder.nbytes)


def load_stimuli(
    base_data_path: str | os.PathLike[str],
    test_names: Iterable[str] = (),
    stimulus_size: Sequence[int] | None = None,
    norm_mean: float | None = None,
    norm_std: float | None = None,
) -> dict[str, MoviesTrainTestSplit]:
    """``{session: MoviesTrainTestSplit}`` (openretina's ``h5_dataset_reader.load_stimuli`` signature); sessions
    showing the same stimuli share one container and its buffers."""
    layout = scan_folder(base_data_path, stimulus_size)
    tests = check_test_names(layout, test_names)
    builder = MovieBuilder(layout.input_shape, norm_mean or 0.0, 1.0 if norm_std is None else norm_std)
    return {s: builder.movies(x, tests) for s, x in layout.sessions.items()}


def load_responses(
    base_data_path: str | os.PathLike[str], test_names: Iterable[str] = ()
) -> dict[str, ResponsesTrainTestSplit]:
    """``{session: ResponsesTrainTestSplit}`` (openretina's ``h5_dataset_reader.load_responses`` signature)."""
    layout = scan_folder(base_data_path)
    tests = check_test_names(layout, test_names)
    return {s: read_responses(x, tests) for s, x in layout.sessions.items()}
