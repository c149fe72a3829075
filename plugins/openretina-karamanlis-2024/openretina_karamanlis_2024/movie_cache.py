"""The composed-movie cache: raw (not normalised) float32 movies in ``.npy`` files, one folder per key.

The key covers every parameter that changes the frames (stimulus type, target size, screen geometry, format
version) and the source file's identity (path, size, modification time), so a changed parameter or a touched
file never returns stale frames. Files are written to temporary names and renamed; ``meta.json`` is written
last and is the entry's completion mark. Reading is one pass: each chunk is z-scored while it is still hot.
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
    from openretina_core.download import cache_root

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


def _save_npy(path: Path, array: np.ndarray) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")
    try:
        with open(partial, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_entry(folder: Path, key: str, meta: dict[str, Any], movies: dict[str, np.ndarray]) -> None:
    """Write the movies, then ``meta.json`` (atomic renames); remove older entries of the same source file."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in MOVIES:
        _save_npy(folder / f"{name}.npy", movies[name])
    record = {**meta, "key": key, "version": CACHE_FORMAT_VERSION}
    partial = folder / f"meta.json.{os.getpid()}-{uuid.uuid4().hex[:8]}.part"
    partial.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(partial, folder / "meta.json")
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


def _read_header(handle: Any, path: Path) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f"{path}: unsupported .npy format version {version}")
    return tuple(shape), bool(fortran), np.dtype(dtype)


def movie_shape(path: Path) -> tuple[int, ...]:
    with open(path, "rb") as handle:
        return _read_header(handle, path)[0]


def read_into(path: Path, out: np.ndarray, mean: float | None = None, std: float | None = None) -> None:
    """Fill ``out`` (C-contiguous float32) from a ``.npy`` file, z-scoring each chunk when stats are given."""
    with open(path, "rb") as handle:
        shape, fortran, dtype = _read_header(handle, path)
        if shape != out.shape or fortran or dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError(f"{path}: cached movie is {dtype} {shape}, expected float32 {out.shape}")
        flat = out.reshape(-1)
        view = memoryview(flat.view(np.uint8).data)
        for start in range(0, view.nbytes, _CHUNK_BYTES):
            stop = min(start + _CHUNK_BYTES, view.nbytes)
            filled = start
            while filled < stop:
                got = handle.readinto(view[filled:stop])
                if not got:
                    raise ValueError(f"{path}: cached movie is truncated")
                filled += got
            if mean is not None and std is not None:
                part = flat[start // 4 : stop // 4]
                part -= np.float32(mean)
                part /= np.float32(std)


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
