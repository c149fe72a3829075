"""Published movies used where they lie: mapped from the session's HDF5 file, never copied.

A ``train/stimulus`` or ``test/stimulus`` stored contiguous (no chunks, no filters, no external file, its space
allocated) in native byte order already is the time-major ``(T, H, W)`` = ``(T, 1, H, W)`` byte run the loaders
gather from, so it is mapped (``np.memmap``, copy-on-write) at the dataset's offset in the file. Copying 3.6 GB of
frames into memory or into the store cost most of a first load (first touch of new memory, dirty-page throttling
on writing); the mapping costs nothing. The per-session z-score is the movie's :class:`StimulusMap`, applied per
batch with the float32 path's own two float32 operations, so batches are bit-identical to the in-memory path.

The one read left is one pass over the train frames in bounded blocks for the moments (the blocks the float32
path uses, so the statistics are identical), plus a finiteness scan of the test frames. The prepared store
records that pass's result (:class:`InPlaceMovies`, keyed by the file's size and modification time), so a later
load reads no frame. A chunked or compressed file is read as before (``load_stimuli_for_session``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from attrs import define

from openretina_core import BadDataError, BadFileError
from openretina_core.data import (
    MoviesTrainTestSplit,
    RunningMoments,
    StimulusMap,
    as_compact,
    check_finite,
    check_movie_moments,
    frame_blocks,
    keeps_compact,
    open_hdf5,
    require_dataset,
)
from openretina_core.files import byte_bar
from openretina_core.store import PreparedArray
from openretina_maheswaranathan_2023.constants import (
    SESSION_FILE_EXPECTED,
    TEST_NAME,
    TEST_STIMULUS_KEY,
    TRAIN_STIMULUS_KEY,
)


@define(frozen=True)
class MappedRegion:
    """A ``(T, H, W)`` dataset's frames: ``dtype`` (``numpy``'s ``dtype.str``) values from byte ``offset``."""

    offset: int
    shape: tuple[int, int, int]
    dtype: str

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def to_json(self) -> dict[str, Any]:
        return {"offset": self.offset, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> MappedRegion:
        shape = tuple(int(v) for v in value["shape"])
        if len(shape) != 3:
            raise BadDataError(f"a mapped region needs a (T, H, W) shape, received {shape}")
        return cls(int(value["offset"]), (shape[0], shape[1], shape[2]), str(value["dtype"]))


@define(frozen=True)
class InPlaceMovies:
    """What mapping a session's movies needs: the file, its identity when scanned, both regions, the moments."""

    path: str
    size: int
    mtime_ns: int
    train: MappedRegion
    test: MappedRegion
    norm_mean: float | None
    norm_std: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "train": self.train.to_json(),
            "test": self.test.to_json(),
            "norm_mean": self.norm_mean,
            "norm_std": self.norm_std,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> InPlaceMovies:
        return cls(
            path=str(value["path"]),
            size=int(value["size"]),
            mtime_ns=int(value["mtime_ns"]),
            train=MappedRegion.from_json(value["train"]),
            test=MappedRegion.from_json(value["test"]),
            norm_mean=None if value["norm_mean"] is None else float(value["norm_mean"]),
            norm_std=None if value["norm_std"] is None else float(value["norm_std"]),
        )


def mappable_region(dset: Any, store_dtype: str = "published") -> MappedRegion | None:
    """The dataset's frames as one mappable byte run, or None when they must be read (chunked, filtered,
    external, unallocated, another byte order, or a dtype the loaders cannot gather as it is: float32 always,
    uint8/int8/float16 with ``store_dtype="published"``)."""
    if dset.ndim != 3 or dset.chunks is not None or dset.external is not None:
        return None
    if dset.id.get_create_plist().get_nfilters() != 0:
        return None
    dtype = np.dtype(dset.dtype)
    if not dtype.isnative or not (dtype == np.float32 or keeps_compact(dtype, store_dtype)):
        return None
    offset = dset.id.get_offset()
    if offset is None:  # never written: no space in the file
        return None
    shape = tuple(int(s) for s in dset.shape)
    return MappedRegion(int(offset), (shape[0], shape[1], shape[2]), dtype.str)


def _mapped(path: str | Path, region: MappedRegion) -> np.ndarray:
    """The region's frames as a copy-on-write ``(T, 1, H, W)`` mapping of the file (nothing is read)."""
    t, h, w = region.shape
    if t == 0:
        return np.zeros((0, 1, h, w), np.dtype(region.dtype))
    return np.memmap(path, dtype=np.dtype(region.dtype), mode="c", offset=region.offset, shape=(t, 1, h, w))


def _scan(dset: Any, path: Path, region: MappedRegion, moments: bool, bar: Any) -> RunningMoments | None:
    """One pass over the frames in the float32 path's blocks: their moments (of the float32 values) if
    asked, else a finiteness check; the first and last blocks are also compared with the mapping, so a wrong
    offset can never be served."""
    n, h, w = region.shape
    dtype = np.dtype(region.dtype)
    blocks = list(frame_blocks(n, h * w * 4))
    buffer = np.empty((blocks[0].stop if blocks else 0, h, w), dtype)
    stats = RunningMoments() if moments else None
    mapped = _mapped(path, region)
    for i, block in enumerate(blocks):
        part = buffer[: block.stop - block.start]
        dset.read_direct(part, source_sel=block)
        values = part if dtype == np.float32 else part.astype(np.float32)
        if stats is not None:
            stats.add(values)
        elif dtype.kind == "f":
            check_finite(values, path, str(dset.name))
        if i in (0, len(blocks) - 1) and part.tobytes() != mapped[block].tobytes():
            raise BadFileError(
                path,
                f"key {dset.name!r}: the bytes at offset {region.offset} differ from what HDF5 reads",
                "a contiguous dataset (load with prepared=False and report this file)",
            )
        bar.update(part.nbytes)
    if stats is not None and not (np.isfinite(stats.mean) and np.isfinite(stats.m2)):
        raise BadFileError(path, f"key {dset.name!r} contains NaN or infinite values", "finite numbers")
    return stats


def scan_in_place(
    path: str | os.PathLike[str], normalize_stimuli: bool = True, store_dtype: str = "published"
) -> InPlaceMovies | None:
    """The session's :class:`InPlaceMovies` (one pass over the train frames for the moments), or None when
    either movie is not mappable or their frames differ in size (then the copying reader runs, and raises
    what it raises)."""
    path = Path(path).resolve()
    stat = path.stat()
    with open_hdf5(path, SESSION_FILE_EXPECTED) as h5:
        train_set = require_dataset(h5, TRAIN_STIMULUS_KEY, path)
        test_set = require_dataset(h5, TEST_STIMULUS_KEY, path)
        train, test = mappable_region(train_set, store_dtype), mappable_region(test_set, store_dtype)
        if train is None or test is None or train.shape[1:] != test.shape[1:]:
            return None
        for region in (train, test):
            if region.offset + region.nbytes > stat.st_size:
                raise BadFileError(
                    path,
                    f"is {stat.st_size} bytes, but its frames end at byte {region.offset + region.nbytes}",
                    "a complete file (truncated? download it again)",
                )
        with byte_bar(f"checking {path.parent.name}/{path.name}", total=train.nbytes + test.nbytes) as bar:
            stats = _scan(train_set, path, train, normalize_stimuli, bar)
            _scan(test_set, path, test, False, bar)
    norm_mean = norm_std = None
    if stats is not None:
        norm_mean, norm_std = stats.mean, stats.std
        check_movie_moments(stats.count, norm_mean, norm_std, path, TRAIN_STIMULUS_KEY)
    return InPlaceMovies(str(path), stat.st_size, stat.st_mtime_ns, train, test, norm_mean, norm_std)


def map_in_place(record: InPlaceMovies) -> MoviesTrainTestSplit:
    """The session's movies as channel-major ``(1, T, H, W)`` views of the mapped file: compact with the
    z-score as their map (raw float32 too), or plain when neither normalised nor narrow. Reads nothing; a
    file changed since ``record`` was made is an error (the prepared store's key changes with it too)."""
    path = Path(record.path)
    stat = path.stat()
    if (stat.st_size, stat.st_mtime_ns) != (record.size, record.mtime_ns):
        raise BadFileError(
            path,
            f"changed while it was being loaded ({stat.st_size} bytes, {record.size} when scanned)",
            "a file left unchanged while it is loaded (load again)",
        )
    stimulus_map = StimulusMap.zscore(record.norm_mean, record.norm_std)

    def channel_major(region: MappedRegion) -> np.ndarray:
        view = np.asarray(_mapped(path, region)).view(PreparedArray).transpose(1, 0, 2, 3)
        view.verified_finite = True  # checked by the scan this record comes from
        if view.dtype == np.float32 and record.norm_std is None:
            return view
        compact = as_compact(view, stimulus_map)
        compact.verified_finite = True
        return compact

    return MoviesTrainTestSplit(
        train=channel_major(record.train),
        test_dict={TEST_NAME: channel_major(record.test)},
        stim_id=path.stem,
        norm_mean=record.norm_mean,
        norm_std=record.norm_std,
    )


def load_movies(
    path: str | os.PathLike[str], normalize_stimuli: bool = True, store_dtype: str = "published"
) -> MoviesTrainTestSplit:
    """One session's movies for the loaders: mapped in place when the file allows it, else read into
    memory as :func:`~openretina_maheswaranathan_2023.stimuli.load_stimuli_for_session` reads them."""
    from openretina_maheswaranathan_2023.stimuli import load_stimuli_for_session

    record = scan_in_place(path, normalize_stimuli, store_dtype)
    if record is None:
        return load_stimuli_for_session(path, normalize_stimuli, store_dtype)
    return map_in_place(record)
