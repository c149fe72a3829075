"""A generic-layout folder through the core's prepared store: the same batches and metadata as reading into
memory, a second load that opens no HDF5 file, one-channel float32 ``.npy`` stimuli mapped in place, compact
narrow stimuli, shared sequences held once, new entries when an option or a file changes, and the opt-outs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from openretina_hdf5 import get_hdf5_dataloaders
from openretina_hdf5.prepared import load_hdf5_prepared

from openretina_core.data import CompactArray
from openretina_core.store import list_entries, open_entry

LOADER = {"batch_size": 4, "clip_length": 20, "num_val_clips": 2, "train_chunk_size": 10}


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENRETINA_NO_STORE", raising=False)


@pytest.fixture
def folder(write_folder: Callable[..., Path], coded: SimpleNamespace) -> Path:
    """One-channel float32 shared stimuli a, b and the test stimulus ``flat``; s1 and s3 show a, b, flat, s2 its
    own b, s4 only a and flat (so its train movie is ``a.npy`` alone); session_info with numbers, strings and a
    group."""
    movie = lambda code, n: coded.movie(code, n, channels=1)  # noqa: E731
    return write_folder(
        {"a": movie(1, 80), "b": movie(2, 60), "flat": movie(9, 60)},
        {
            "s1.h5": {
                "responses": {
                    n: coded.responses(c, t, 3) for n, c, t in (("a", 1, 80), ("b", 2, 60), ("flat", 9, 60))
                },
                "info": {"celltypes": np.array([4, 5, 6]), "eye": "left", "roi/ids": np.arange(3.0)},
            },
            "s2.h5": {
                "responses": {
                    n: coded.responses(c, t, 2) for n, c, t in (("a", 1, 80), ("b", 7, 60), ("flat", 9, 60))
                },
                "stimuli": {"b": movie(7, 60)},
                "info": {"names": np.array([b"x", b"yz"])},
            },
            "s3.h5": {  # the same stimuli as s1: shares its container
                "responses": {
                    n: coded.responses(c, t, 2) for n, c, t in (("a", 1, 80), ("b", 2, 60), ("flat", 9, 60))
                },
            },
            "s4.h5": {
                "responses": {n: coded.responses(c, t, 4) for n, c, t in (("a", 1, 80), ("flat", 9, 60))}
            },
        },
    )


def _load(data_dir: Path, **options: Any) -> Any:
    return get_hdf5_dataloaders(data_dir, test_names=["flat"], **LOADER, **options)


def _forbid_hdf5(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"an HDF5 file was opened: {args[:1]}")

    monkeypatch.setattr(h5py, "File", refuse)


def _same(left: Any, right: Any) -> None:
    if isinstance(left, dict):
        assert left.keys() == right.keys()
        for key in left:
            _same(left[key], right[key])
    elif isinstance(left, np.ndarray):
        assert left.dtype == right.dtype and left.shape == right.shape and np.array_equal(left, right)
    else:
        assert left == right


def _assert_same_batches(left: Any, right: Any) -> None:
    assert set(left) == set(right)
    for split in left:
        for session in left[split]:
            for (x1, y1), (x2, y2) in zip(left[split][session], right[split][session], strict=True):
                assert x1.dtype == x2.dtype == torch.float32
                assert torch.equal(x1, x2) and torch.equal(y1, y2), (split, session)


def _kinds() -> list[str]:
    return sorted(open_entry(e.path).meta["params"].get("kind", "session") for e in list_entries("hdf5"))


def _keys(kind: str) -> set[str]:
    return {e.key for e in list_entries("hdf5") if open_entry(e.path).meta["params"].get("kind") == kind}


def _mapped_file(array: np.ndarray) -> str | None:
    base: Any = array
    while base is not None:
        if isinstance(base, np.memmap):
            return str(base.filename)
        base = base.base
    return None


@pytest.mark.parametrize("norm", [{}, {"norm_mean": 3.0, "norm_std": 2.0}])
def test_prepared_equals_in_memory_and_reloads_without_opening_hdf5(
    folder: Path, monkeypatch: pytest.MonkeyPatch, norm: dict[str, float]
) -> None:
    memory = _load(folder, prepared=False, **norm)
    assert list_entries("hdf5") == [], "prepared=False writes no entry"
    first = _load(folder, **norm)
    _assert_same_batches(memory, first)
    memory = _load(folder, prepared=False, **norm)  # a fresh epoch 0
    _forbid_hdf5(monkeypatch)
    second = _load(folder, **norm)
    _assert_same_batches(memory, second)
    assert second.data_info["movie_copies_made"] == 0
    _same(second.data_info["sessions_kwargs"], memory.data_info["sessions_kwargs"])
    for key in ("n_neurons_dict", "stimulus_names", "stimulus_sources", "movie_buffers", "test_names"):
        assert second.data_info[key] == memory.data_info[key], key
    assert second.data_info["data_dir"] == memory.data_info["data_dir"]


def test_one_channel_float32_stimuli_are_mapped_in_place_and_shared_sequences_held_once(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = load_hdf5_prepared(folder, ["flat"])
    flat = data.movies["s1"].test_dict["flat"]
    assert _mapped_file(flat) == str(folder / "stimuli" / "flat.npy"), "mapped from the user's file"
    assert flat.dtype == np.float32 and getattr(flat, "verified_finite", False)
    train = data.movies["s1"].train
    assert _mapped_file(train) is not None and str(folder) not in str(_mapped_file(train)), "a stored copy"
    assert data.movies["s1"] is data.movies["s3"], "the same stimuli: one container"
    assert np.shares_memory(data.movies["s2"].test_dict["flat"], flat), "one mapping for all sessions"
    assert _mapped_file(data.movies["s4"].train) == str(folder / "stimuli" / "a.npy"), "a alone: in place"
    # a, b concatenated (s1/s3) and a, own b (s2): two stored sequences; a and flat only checked, not copied.
    assert _kinds() == [*["checked in place"] * 2, "layout", *["responses"] * 4, "sequence", "sequence"]
    _forbid_hdf5(monkeypatch)
    again = load_hdf5_prepared(folder, ["flat"])
    assert np.array_equal(again.movies["s1"].train, train) and again.movie_buffers == data.movie_buffers


def test_normalised_or_channel_major_npy_goes_into_the_store(
    folder: Path, write_folder: Callable[..., Path], coded: SimpleNamespace
) -> None:
    data = load_hdf5_prepared(folder, ["flat"], norm_mean=1.0, norm_std=2.0)
    flat = data.movies["s1"].test_dict["flat"]
    assert str(folder) not in str(_mapped_file(flat)), "normalised: derived, so stored"
    assert "checked in place" not in _kinds()
    two = write_folder(
        {"a": coded.movie(1, 80), "t": coded.movie(3, 40)},  # (2, T, H, W): time-major is another byte order
        {"s.h5": {"responses": {"a": coded.responses(1, 80, 2), "t": coded.responses(3, 40, 2)}}},
        name="two_channels",
    )
    data = load_hdf5_prepared(two, ["t"])
    assert str(two) not in str(_mapped_file(data.movies["s"].train))
    assert str(two) not in str(_mapped_file(data.movies["s"].test_dict["t"]))
    memory = _load_memory(two, ["t"])
    assert np.array_equal(data.movies["s"].train, memory.movies["s"].train)


@pytest.mark.parametrize("dtype", ["uint8", "float16"])
def test_narrow_stimuli_are_stored_compact_and_decode_bit_for_bit(
    write_folder: Callable[..., Path], coded: SimpleNamespace, dtype: str
) -> None:
    rng = np.random.default_rng(0)
    movie = lambda c, t: rng.integers(0, 250, (c, t, *coded.shape[1:])).astype(dtype)  # noqa: E731
    root = write_folder(
        {"a": movie(1, 80), "b": movie(1, 40), "one": movie(1, 40)},
        {
            "s1.h5": {
                "responses": {"a": rng.random((3, 80)), "b": rng.random((3, 40)), "one": rng.random((3, 40))}
            }
        },
    )
    for norm in ({}, {"norm_mean": 100.0, "norm_std": 30.0}):
        data = load_hdf5_prepared(root, ["one"], **norm)
        assert isinstance(data.movies["s1"].train, CompactArray) and data.movies["s1"].train.dtype == dtype
        one = data.movies["s1"].test_dict["one"]
        assert isinstance(one, CompactArray) and _mapped_file(one) == str(root / "stimuli" / "one.npy")
        memory = _load_memory(root, ["one"], **norm)
        assert np.array_equal(data.movies["s1"].train.decoded(), memory.movies["s1"].train)
        assert np.array_equal(one.decoded(), memory.movies["s1"].test_dict["one"])
        wide = load_hdf5_prepared(root, ["one"], store_dtype="float32", **norm)
        assert wide.movies["s1"].train.dtype == np.float32
        a = get_hdf5_dataloaders(root, test_names=["one"], **LOADER, **norm)
        b = get_hdf5_dataloaders(root, test_names=["one"], prepared=False, **LOADER, **norm)
        _assert_same_batches(b, a)


def _load_memory(root: Path, tests: list[str], **norm: float) -> Any:
    from openretina_hdf5 import load_hdf5

    return load_hdf5(root, tests, **norm)


def test_changed_options_and_files_make_new_entries(folder: Path, coded: SimpleNamespace) -> None:
    _load(folder)
    before = _kinds()
    _load(folder, norm_mean=1.0)
    after = _kinds()
    assert after.count("sequence") == 2 * before.count("sequence") + 2, (
        "normalised: new ones (a alone, flat too)"
    )
    assert after.count("responses") == before.count("responses"), "responses do not depend on it"
    # Rewrite a shared stimulus (same shape, other values) and the in-place one: both are read again.
    for name, code in (("a", 4), ("flat", 8)):
        path = folder / "stimuli" / f"{name}.npy"
        stat = path.stat()
        np.save(path, coded.movie(code, 80 if name == "a" else 60, channels=1))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    layouts = _keys("layout")
    data = load_hdf5_prepared(folder, ["flat"])
    assert np.asarray(data.movies["s1"].train)[0, 0, 0, 0] == coded.code(4, 0)
    assert np.asarray(data.movies["s1"].test_dict["flat"])[0, 0, 0, 0] == coded.code(8, 0)
    assert _kinds().count("checked in place") == 2, (
        "the stale checks of the old a.npy and flat.npy are removed"
    )
    assert _keys("layout") != layouts and len(_keys("layout")) == 1, "scanned again; the old scan removed"
    # A session file rewritten: its responses are read again.
    with h5py.File(folder / "s1.h5", "r+") as h5:
        h5["responses_a"][0, 0] = -5.0
    stat = (folder / "s1.h5").stat()
    os.utime(folder / "s1.h5", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert load_hdf5_prepared(folder, ["flat"]).responses["s1"].train[0, 0] == -5.0


def test_opt_out_reads_into_memory(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRETINA_NO_STORE", "1")
    loaders = _load(folder)
    assert list_entries("hdf5") == []
    assert loaders["train"] and _load(folder, prepared=True) and list_entries("hdf5")
    with pytest.raises(ValueError, match="store_dtype"):
        _load(folder, store_dtype="int8")


def test_session_info_the_store_cannot_record_is_read_into_memory(
    write_folder: Callable[..., Path], coded: SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    record = np.zeros(2, dtype=[("x", "i4"), ("y", "f8")])  # a compound dtype: no exact record here
    root = write_folder(
        {"a": coded.movie(1, 80)},
        {"s.h5": {"responses": {"a": coded.responses(1, 80, 2)}, "info": {"r": record}}},
    )
    data = load_hdf5_prepared(root)
    assert "read into memory" in caplog.text and list_entries("hdf5") == []
    assert data.responses["s"].session_kwargs["r"].dtype == record.dtype
