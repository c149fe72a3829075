"""Damaging a valid file the ways a download, a disk or a user does, for tests of the errors that follow.

``damage_file(path, kind)`` rewrites ``path`` in place: ``"empty"`` (zero bytes), ``"truncated"`` (cut at a
third of its size), ``"random"`` (as many random bytes as it had). ``assert_names_file`` checks an error is
one of ours and names the file. ``damage_hdf5_key``, ``damage_npy`` and ``damage_pickle`` rewrite one array
as complex, inf, strings, all NaN or zero frames (``VALUE_DAMAGE``); ``linked_copy``, ``load_offline`` and
``batch_signature`` load a damaged copy of a sample as a new user would and compare what it serves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


# -- damaged values, and loading a sample as a new user would (the fuzz test and the new-user sweep) ----------

VALUE_DAMAGE = ("complex", "inf", "strings", "all_nan", "zero_frames")


def damaged_array(values: np.ndarray, kind: str) -> np.ndarray | None:
    """``values`` damaged as ``kind`` (one of ``VALUE_DAMAGE``); None when it does not apply (not floats)."""
    values = np.asarray(values)
    if kind == "zero_frames":
        return None if values.ndim == 0 else np.zeros((0, *values.shape[1:]), dtype=values.dtype)
    if kind == "strings":
        return np.full(values.shape if values.size else (1,), b"not a number")
    if not np.issubdtype(values.dtype, np.floating) or values.size == 0:
        return None
    if kind == "all_nan":
        return np.full_like(values, np.nan)
    damaged = np.array(values, dtype=np.complex64 if kind == "complex" else values.dtype)
    damaged.reshape(-1)[values.size // 2] = 1 + 2j if kind == "complex" else np.inf
    return damaged


def hdf5_arrays(path: str | os.PathLike[str]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every dataset of an HDF5 file: ``{name: (shape, dtype)}``."""
    import h5py

    found: dict[str, tuple[tuple[int, ...], str]] = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(
            lambda name, obj: (
                found.update({name: (obj.shape, str(obj.dtype))}) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return found


def damage_hdf5_key(path: str | os.PathLike[str], key: str, kind: str) -> bool:
    """Rewrite one dataset of an HDF5 file damaged as ``kind``; False when the kind does not apply."""
    import h5py

    with h5py.File(path, "r+") as handle:
        damaged = damaged_array(handle[key][()], kind)
        if damaged is None:
            return False
        del handle[key]
        handle[key] = damaged
    return True


def damage_npy(path: str | os.PathLike[str], kind: str) -> bool:
    """Rewrite a ``.npy`` array damaged as ``kind``; False when the kind does not apply."""
    damaged = damaged_array(np.load(path, allow_pickle=False), kind)
    if damaged is None:
        return False
    with open(path, "wb") as handle:  # np.save(path) would append ".npy" to other names
        np.save(handle, damaged)
    return True


def damage_pickle(path: str | os.PathLike[str], kind: str) -> bool:
    """Damage the largest float array inside a pickled structure (dicts, lists, tuples) of a test's own file;
    False when it holds none the kind applies to."""
    import pickle

    with open(path, "rb") as handle:
        data = pickle.load(handle)
    slots: list[tuple[int, Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
                slots.append((value.size, node, key))
            elif isinstance(value, (dict, list)):
                walk(value)

    walk(data)
    for _, node, key in sorted(slots, key=lambda slot: -slot[0]):
        damaged = damaged_array(node[key], kind)
        if damaged is not None:
            node[key] = damaged
            with open(path, "wb") as out:
                pickle.dump(data, out, protocol=4)
            return True
    return False


def linked_copy(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """A copy of a sample folder whose files are hard links (cheap); replace a file before damaging it."""
    source, target = Path(source), Path(target)
    for path in sorted(source.rglob("*")):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, dest)
    return target


def unlinked(path: str | os.PathLike[str]) -> Path:
    """Give a hard-linked file its own bytes, so damaging it leaves the original sample intact."""
    path = Path(path)
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)
    return path


def load_offline(name: str, data_dir: Any, options: Any, cache: str | os.PathLike[str] | None = None) -> Any:
    """``get_dataloaders(name, data_dir=...)`` offline, without the prepared store, in ``cache`` (a fresh
    temporary one, removed afterwards, when None): what a new user's first load does."""
    import shutil
    import tempfile

    from openretina_core.data.registered import get_dataloaders

    folder = str(cache) if cache is not None else tempfile.mkdtemp(prefix="openretina_cache_")
    switches = ("OPENRETINA_CACHE_DIR", "OPENRETINA_OFFLINE", "OPENRETINA_NO_STORE")
    previous = {key: os.environ.get(key) for key in switches}
    os.environ.update(OPENRETINA_CACHE_DIR=folder, OPENRETINA_OFFLINE="1", OPENRETINA_NO_STORE="1")
    try:
        return get_dataloaders(name, data_dir=data_dir, batch_size=4, **dict(options))
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if cache is None:
            shutil.rmtree(folder, ignore_errors=True)


def batch_signature(loaders: Any) -> dict[str, list[float]]:
    """A few numbers per split and session (sums of the first batch) that change when a served value does."""
    out = {}
    for split, group in loaders.items():
        for session, loader in group.items():
            inputs, targets = next(iter(loader))
            out[f"{split}/{session}"] = [float(inputs.double().sum()), float(targets.double().sum())]
    return out
