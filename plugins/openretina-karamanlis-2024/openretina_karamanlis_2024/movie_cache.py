"""The composed-movie cache: float32 movies in ``.npy`` files, one folder per key, used memory-mapped.

The key covers every parameter that changes the stored frames (stimulus type, target size, screen geometry,
normalisation, format version) and the source file's identity (path, size, modification time), so a changed
parameter or a touched file never returns stale frames. A new entry is composed straight into preallocated
temporary files (no second copy of the movie is written), renamed into place, and ``meta.json`` is written
last as the entry's completion mark. A complete entry is opened copy-on-write: loading it reads nothing up
front, pages come from the page cache as they are used, and changes a caller makes never reach the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from openretina_karamanlis_2024.constants import CACHE_FORMAT_VERSION, DATASET_ID, DERIVED_DIR

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 16 << 20
MOVIES = ("train", "test")


def dataset_cache(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir`` or ``<openretina cache>/karamanlis_2024``: holds derived movies and extracted files."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from openretina_core.files import cache_root

    return cache_root() / DATASET_ID


def entry_key(params: dict[str, Any], identity: dict[str, Any]) -> str:
    blob = json.dumps({"version": CACHE_FORMAT_VERSION, "params": params, "source": identity}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def entry_dir(cache: Path, session: str, params: dict[str, Any], key: str) -> Path:
    height, width = params["target_size"]
    return cache / DERIVED_DIR / session / f"{params['stim_type']}_{height}x{width}_{key[:16]}"


def read_meta(folder: Path, key: str) -> dict[str, Any] | None:
    """The entry's metadata if it is complete and made for ``key``; None otherwise."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("key") != key or meta.get("version") != CACHE_FORMAT_VERSION:
        return None
    if not all((folder / f"{name}.npy").is_file() for name in MOVIES):
        return None
    return meta


def _partial_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")


class PendingEntry:
    """A cache entry being written: preallocated float32 ``.npy`` files mapped for writing under temporary
    names. ``commit`` renames them into place and marks the entry complete; ``discard`` removes them."""

    def __init__(self, folder: Path, shapes: dict[str, tuple[int, ...]]) -> None:
        self.folder = folder
        self.partials: dict[str, Path] = {}
        self.movies: dict[str, np.ndarray] = {}
        folder.mkdir(parents=True, exist_ok=True)
        try:
            for name in MOVIES:
                partial = _partial_name(folder / f"{name}.npy")
                self.partials[name] = partial
                self.movies[name] = _preallocated_npy(partial, shapes[name])
        except BaseException:
            self.discard()
            raise

    def commit(self, key: str, meta: dict[str, Any]) -> None:
        """Rename the movies into place, then write ``meta.json``; remove older entries of the same source.

        The written pages stay with the kernel, which writes them back in its own time (as for any written
        file); callers drop their writable mappings and use :func:`open_entry`."""
        self.movies.clear()
        for name, partial in self.partials.items():
            partial.chmod(0o444)  # entries are replaced, never rewritten in place (they are mapped)
            os.replace(partial, self.folder / f"{name}.npy")
        self.partials.clear()
        record = {**meta, "key": key, "version": CACHE_FORMAT_VERSION}
        partial = _partial_name(self.folder / "meta.json")
        try:
            partial.write_text(json.dumps(record, indent=1, sort_keys=True))
            os.replace(partial, self.folder / "meta.json")
        finally:
            partial.unlink(missing_ok=True)
        _remove_stale_siblings(self.folder, meta)

    def discard(self) -> None:
        self.movies.clear()
        for partial in self.partials.values():
            partial.unlink(missing_ok=True)
        self.partials.clear()


def _preallocated_npy(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A new ``.npy`` file mapped for writing. Its blocks are reserved first, so a full disk is an ``OSError``
    here rather than a bus error while the mapping is written."""
    movie = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    if hasattr(os, "posix_fallocate") and movie.nbytes:
        with open(path, "r+b") as handle:
            os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
    return movie


def _remove_stale_siblings(folder: Path, meta: dict[str, Any]) -> None:
    for sibling in folder.parent.iterdir():
        if sibling == folder or not sibling.is_dir():
            continue
        try:
            other = json.loads((sibling / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        if (
            other.get("source", {}).get("source") == meta["source"]["source"]
            and other.get("params") == meta["params"]
        ):
            logger.info("removing stale composed movies %s (source file changed)", sibling)
            shutil.rmtree(sibling, ignore_errors=True)


def open_entry(folder: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """The entry's movies, mapped copy-on-write, after checking each file against the recorded shape.

    Raises ``ValueError`` or ``OSError`` naming the file when it is not the float32 array ``meta`` records
    (damaged, truncated or replaced behind our back)."""
    movies: dict[str, np.ndarray] = {}
    for name in MOVIES:
        path = folder / f"{name}.npy"
        expected = tuple(int(v) for v in meta["shapes"][name])
        with open(path, "rb") as handle:
            shape, fortran, dtype = _read_header(handle, path)
            size = 4 * int(np.prod(expected)) + handle.tell()
        if shape != expected or fortran or dtype != np.float32:
            raise ValueError(f"{path}: cached movie is {dtype} {shape}, expected float32 {expected}")
        if path.stat().st_size != size:
            raise ValueError(f"{path}: cached movie has {path.stat().st_size} bytes, expected {size}")
        movies[name] = np.load(path, mmap_mode="c", allow_pickle=False)
    return movies


def _read_header(handle: Any, path: Path) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f"{path}: unsupported .npy format version {version}")
    return tuple(shape), bool(fortran), np.dtype(dtype)


def movie_stats(movie: np.ndarray) -> tuple[float, float]:
    """Scalar mean and unbiased std over every element, accumulated in float64 chunks (no float64 copy)."""
    flat = movie.reshape(-1)
    step = _CHUNK_BYTES // 4
    total = 0.0
    for start in range(0, flat.size, step):
        total += float(flat[start : start + step].sum(dtype=np.float64))
    mean = total / flat.size
    squares = 0.0
    for start in range(0, flat.size, step):
        part = flat[start : start + step].astype(np.float64) - mean
        squares += float(np.dot(part, part))
    return mean, float(np.sqrt(squares / max(1, flat.size - 1)))


def normalize_in_place(movies: list[np.ndarray], mean: float, std: float) -> None:
    if not std > 0:
        raise ValueError("cannot normalise a constant movie (train std is 0)")
    for movie in movies:
        flat = movie.reshape(-1)
        step = _CHUNK_BYTES // 4
        for start in range(0, flat.size, step):
            part = flat[start : start + step]
            part -= np.float32(mean)
            part /= np.float32(std)
