"""Bundled prepared entries: many sessions in one entry, their small arrays packed into a few files; round trip,
views of the mapped packs, invalidation, damage, the memory fallback and the cache CLI."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openretina_core import (
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    hookimpl,
    multiple_movies_dataloaders,
)
from openretina_core.cli.cache_commands import register_commands
from openretina_core.files import DiskFullError
from openretina_core.registry.manager import build_plugin_manager, reset_plugin_state
from openretina_core.registry.specs import DatasetInfo, DatasetSpec, RemoteFile
from openretina_core.store import (
    EntryWriter,
    StoreIntegrityError,
    list_entries,
    open_entry,
    prepared_session,
    prepared_sessions,
    strict_preparation,
    verify_entry,
)
from openretina_core.store.bundles import PACK_LIMIT

Pair = tuple[MoviesTrainTestSplit | None, ResponsesTrainTestSplit | None]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "published.h5"
    path.write_bytes(b"published bytes")
    return path


def field(seed: int, n: int, t: int = 40, nan: bool = False) -> ResponsesTrainTestSplit:
    """A Höfling-like field: ``n`` ROIs, train/test responses, trials, per-ROI metadata arrays and JSON values."""
    rng = np.random.default_rng(seed)
    train = rng.random((n, t)).astype(np.float32)
    if nan and n:
        train[0, 1] = np.nan
    return ResponsesTrainTestSplit(
        train=train,
        test_dict={"frozen": rng.random((n, 10)).astype(np.float32)},
        test_by_trial_dict={"frozen": rng.random((3, n, 10)).astype(np.float32)},
        stim_id="natural",
        session_kwargs={
            "roi_ids": np.arange(n, dtype=np.int64) + seed,
            "roi_coords": rng.random((n, 2)),
            "eye": "left" if seed % 2 else "right",
            "scan_sequence_idx": seed % 3,
            "depth": np.float64(seed / 2),
        },
    )


def assert_same(got: ResponsesTrainTestSplit, want: ResponsesTrainTestSplit) -> None:
    def same(a: Any, b: Any) -> None:
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes(), "bit for bit, NaNs included"

    same(got.train, want.train)
    assert got.test_dict.keys() == want.test_dict.keys()
    assert got.test_by_trial_dict.keys() == want.test_by_trial_dict.keys()
    for name in want.test_dict:
        same(got.test_dict[name], want.test_dict[name])
    for name in want.test_by_trial_dict:
        same(got.test_by_trial_dict[name], want.test_by_trial_dict[name])
    assert got.stim_id == want.stim_id
    assert got.session_kwargs.keys() == want.session_kwargs.keys()
    for key, value in want.session_kwargs.items():
        if isinstance(value, np.ndarray):
            same(got.session_kwargs[key], value)
        else:
            assert got.session_kwargs[key] == value and type(got.session_kwargs[key]) is type(
                np.asarray(value).item()
            )


class Reader:
    def __init__(self, sessions: dict[str, Pair]) -> None:
        self.sessions, self.calls = sessions, 0

    def __call__(self) -> dict[str, Pair]:
        self.calls += 1
        return self.sessions


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    counts=st.lists(st.integers(0, 6), min_size=1, max_size=5),
    coords=st.integers(1, 3),
    nan_at=st.integers(-1, 4),
)
def test_round_trip_equals_the_in_memory_and_one_session_containers(
    counts: list[int], coords: int, nan_at: int, source: Path
) -> None:
    sessions: dict[str, Pair] = {}
    for index, n in enumerate(counts):
        response = field(index, n, nan=index == nan_at)
        response.session_kwargs["roi_coords"] = np.ones((n, coords)) * index  # ragged kwargs shapes
        sessions[f"field_{index}"] = (None, response)
    name = f"bundle_{uuid.uuid4().hex[:8]}"
    read = Reader(sessions)
    first = prepared_sessions("toy", name, params={}, sources=[source], read=read)
    again = prepared_sessions("toy", name, params={}, sources=[source], read=read)
    assert read.calls == 1, "the second call maps the bundle"
    assert list(again) == sorted(sessions) == list(first)
    for session, (movies, response) in again.items():
        assert movies is None and response is not None
        assert_same(response, sessions[session][1])  # type: ignore[arg-type]
        _, single = prepared_session(
            "toy", f"{name}_{session}", params={}, sources=[source], read=lambda s=session: sessions[s]
        )
        assert single is not None
        assert_same(response, single)
        finite = session != f"field_{nan_at}" or counts[nan_at] == 0
        assert getattr(response.train, "verified_finite", None) is finite, "finiteness is per session"


def test_sessions_are_views_of_a_few_mapped_packed_files(source: Path) -> None:
    sessions: dict[str, Pair] = {f"f{i}": (None, field(i, 3 + i)) for i in range(30)}
    bundle = prepared_sessions("toy", "_fields", params={}, sources=[source], read=Reader(sessions))
    (usage,) = list_entries("toy")
    assert usage.session == "_fields" and usage.sessions == tuple(sorted(sessions))
    files = sorted(p.name for p in usage.path.glob("*.npy"))
    assert files == [  # one file per kind of array, whatever the number of sessions (depth is JSON)
        "pack__kwarg__roi_coords__float64.npy",
        "pack__kwarg__roi_ids__int64.npy",
        "pack__responses_by_trial__frozen__float32.npy",
        "pack__responses_test__frozen__float32.npy",
        "pack__responses_train__float32.npy",
    ]
    mappings = set()
    for response in (pair[1] for pair in bundle.values()):
        assert response is not None
        assert response.train.T.flags.c_contiguous, "time-major, as a one-session entry stores it"
        base = response.train
        while not isinstance(base, np.memmap):
            assert base.base is not None, "the array is a view of a mapping, not a copy"
            base = base.base
        assert Path(str(base.filename)).name == "pack__responses_train__float32.npy"
        assert np.shares_memory(response.train, base) and base.shape == (40 * sum(3 + i for i in range(30)),)
        mappings.add(id(base))
    assert len(mappings) == 1, "every session is a view of the same mapped pack"


def test_movies_and_big_arrays_keep_their_layout(source: Path) -> None:
    rng = np.random.default_rng(0)
    big_t = PACK_LIMIT // (4 * 50) + 1  # a train array just over the pack limit: a file of its own
    movies = MoviesTrainTestSplit(
        train=rng.standard_normal((2, 60, 3, 4)).astype(np.float32),
        test_dict={"frozen": rng.standard_normal((2, 10, 3, 4)).astype(np.float32)},
        stim_id="natural",
        random_sequences=np.array([[0, 1], [1, 0]]),
        norm_mean=0.5,
        norm_std=2.0,
    )
    big = ResponsesTrainTestSplit(
        train=np.zeros((50, big_t), np.float32),
        test_dict={"frozen": np.ones((50, 2), np.float32)},
        stim_id="natural",
    )
    sessions: dict[str, Pair] = {"a": (movies, field(1, 2)), "b": (None, big)}
    bundle = prepared_sessions("toy", "mixed", params={}, sources=[source], read=Reader(sessions))
    got_movies, got_a = bundle["a"]
    assert got_movies is not None and got_a is not None
    assert np.array_equal(got_movies.train, movies.train) and got_movies.norm_std == 2.0
    assert np.array_equal(got_movies.random_sequences, movies.random_sequences)
    assert_same(got_a, field(1, 2))
    assert bundle["b"][1] is not None and np.array_equal(bundle["b"][1].train, big.train)
    (usage,) = list_entries("toy")
    assert (usage.path / "file__b__responses_train.npy").exists()


def test_parameters_and_touched_sources_rebuild_the_bundle(source: Path) -> None:
    read = Reader({"f0": (None, field(0, 2)), "f1": (None, field(1, 3))})
    prepared_sessions("toy", "_fields", params={"q": 1}, sources=[source], read=read)
    prepared_sessions("toy", "_fields", params={"q": 2}, sources=[source], read=read)
    assert read.calls == 2 and len(list_entries("toy")) == 2
    source.write_bytes(b"republished, longer bytes")
    prepared_sessions("toy", "_fields", params={"q": 1}, sources=[source], read=read)
    assert read.calls == 3
    assert len(list_entries("toy")) == 2, "the entry of the old file is superseded and removed"
    prepared_sessions("toy", "_fields", params={"q": 1}, sources=[source], read=read, version=2)
    assert read.calls == 4


def _damage(path: Path) -> None:
    stat = path.stat()
    path.chmod(0o644)
    with open(path, "r+b") as handle:
        handle.seek(-3, os.SEEK_END)
        handle.write(b"\x7f\x7f\x7f")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and stamp: only a re-hash sees it


def test_a_damaged_pack_is_found_by_verify_and_a_changed_one_is_rebuilt(source: Path) -> None:
    read = Reader({f"f{i}": (None, field(i, 2)) for i in range(5)})
    prepared_sessions("toy", "_fields", params={}, sources=[source], read=read)
    (usage,) = list_entries("toy")
    assert verify_entry(usage.path) == []
    pack = usage.path / "pack__responses_train__float32.npy"
    _damage(pack)
    problems = verify_entry(usage.path)
    assert str(pack) in problems[0] and "sha256" in problems[0]
    assert "bundles 5 sessions (f0, f1, f2 and 2 more)" in problems[-1]
    pack.chmod(0o644)
    with open(pack, "ab") as handle:
        handle.write(b"\0" * 4)  # now the stamp differs too: not served, rebuilt
    with pytest.raises(StoreIntegrityError, match="changed since it was prepared"):
        open_entry(usage.path)
    bundle = prepared_sessions("toy", "_fields", params={}, sources=[source], read=read)
    assert read.calls == 2 and bundle["f4"][1] is not None
    assert_same(bundle["f4"][1], field(4, 2))


def test_a_full_disk_serves_the_bundle_from_memory_or_is_an_error_when_strict(
    source: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    read = Reader({f"f{i}": (None, field(i, 2)) for i in range(3)})
    monkeypatch.setattr(os, "posix_fallocate", no_space)
    bundle = prepared_sessions("toy", "_fields", params={}, sources=[source], read=read)
    assert "kept in memory" in caplog.text and list_entries("toy") == []
    assert list(bundle) == ["f0", "f1", "f2"] and bundle["f1"][1] is read.sessions["f1"][1]
    with strict_preparation(), pytest.raises(DiskFullError, match="not enough disk space"):
        prepared_sessions("toy", "_fields", params={}, sources=[source], read=read)


def test_loaders_over_a_bundle_equal_in_memory_loaders(source: Path) -> None:
    rng = np.random.default_rng(5)
    movies = MoviesTrainTestSplit(
        train=rng.standard_normal((2, 40, 3, 4)).astype(np.float32),
        test_dict={"frozen": rng.standard_normal((2, 10, 3, 4)).astype(np.float32)},
        stim_id="natural",
    )
    fields = {f"f{i}": field(i, 2 + i) for i in range(3)}
    bundle = prepared_sessions(
        "toy", "_fields", params={}, sources=[source], read=Reader({k: (None, v) for k, v in fields.items()})
    )
    mapped_responses = {k: pair[1] for k, pair in bundle.items()}
    options: dict[str, Any] = {
        "clip_length": 10,
        "num_val_clips": 1,
        "batch_size": 2,
        "seed": 3,
        "train_chunk_size": 5,
    }
    mapped = multiple_movies_dataloaders(mapped_responses, movies, **options)  # type: ignore[arg-type]
    memory = multiple_movies_dataloaders(fields, movies, **options)
    for split in ("train", "validation", "frozen"):
        for session in fields:
            for (x1, y1), (x2, y2) in zip(mapped[split][session], memory[split][session], strict=True):
                assert torch.equal(x1, x2) and torch.equal(y1, y2), (split, session)


def test_packing_in_memory_when_the_store_cannot_be_written() -> None:
    writer = EntryWriter(None)
    members: list[np.ndarray] = [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([np.nan], np.float32),
        np.zeros((0, 4)),
    ]
    finite = writer.put_packed("pack", members, np.float32)
    assert finite == [True, False, True]
    assert np.array_equal(
        writer.in_memory_arrays()["pack"], np.array([0, 1, 2, 3, 4, 5, np.nan]), equal_nan=True
    )


INFO = DatasetInfo(
    id="bundle_toy",
    title="bundle toy",
    authors=("A",),
    year=2024,
    files=(RemoteFile("data.h5", urls="https://zenodo.org/records/1/files/data.h5"),),
)


class ToyPlugin:
    @hookimpl
    def register_datasets(self, register: Any) -> None:
        register(DatasetSpec(info=INFO, get_dataloaders=lambda **kwargs: {}))


@pytest.fixture
def cli() -> Iterator[click.Group]:
    state = build_plugin_manager(load_entry_points=False)
    state.manager.register(ToyPlugin(), name="bundle-toy")
    reset_plugin_state(state)

    @click.group()
    def group() -> None:
        pass

    register_commands(group)
    try:
        yield group
    finally:
        reset_plugin_state(None)


def test_cache_cli_on_a_bundle(cli: click.Group, source: Path) -> None:
    read = Reader({f"f{i}": (None, field(i, 2)) for i in range(4)})
    prepared_sessions("bundle_toy", "_fields", params={}, sources=[source], read=read)
    prepared_session("bundle_toy", "other", params={}, sources=[source], read=lambda: (None, field(9, 1)))
    runner = CliRunner()
    info = runner.invoke(cli, ["cache", "info", "bundle_toy"])
    assert info.exit_code == 0, info.output
    assert (
        "prepared _fields/" in info.output and "(bundle of 4 sessions: f0, f1, f2 and 1 more)" in info.output
    )
    verify = runner.invoke(cli, ["verify", "bundle_toy"])
    assert "ok" in verify.output and "(bundle of 4 sessions)" in verify.output, verify.output
    (usage,) = [u for u in list_entries("bundle_toy") if u.sessions]
    _damage(usage.path / "pack__responses_train__float32.npy")
    verify = runner.invoke(cli, ["verify", "bundle_toy"])
    assert verify.exit_code == 1 and "CORRUPT" in verify.output and "bundles 4 sessions" in verify.output
    clean = runner.invoke(cli, ["cache", "clean", "bundle_toy", "--prepared", "--session", "f2"])
    assert clean.exit_code == 0, clean.output
    assert "f2 is packed with 3 other session(s) in _fields/" in clean.output
    assert [u.session for u in list_entries("bundle_toy")] == ["other"], "only the bundle holding f2 went"
