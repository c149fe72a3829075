"""Composed movies in the core's prepared store: reused when nothing changed, never stale after a parameter or
source change, never served damaged."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from openretina_karamanlis_2024 import stimuli as stimuli_module
from openretina_karamanlis_2024.sample import MARMOSET, write_sample
from openretina_karamanlis_2024.stimuli import load_all_stimuli

SMALL = {"blocks": 2, "frames_per_block": 120, "frozen_frames": 40, "trials": 2, "image_shape": (80, 110)}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_sample(tmp_path / "data", seed=1, n_images=5, n_neurons=3, **SMALL).data_dir


@pytest.fixture
def compositions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every session whose movies are composed (rather than read from the cache)."""
    calls: list[str] = []
    original = stimuli_module.compose_session

    def counting(file, composer, *rest):  # type: ignore[no-untyped-def]
        calls.append(file.session)
        return original(file, composer, *rest)

    monkeypatch.setattr(stimuli_module, "compose_session", counting)
    return calls


def listing(folder: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
    )


def damage(path: Path, content: bytes) -> None:
    """Rewrite a (read-only) cache file in place, as a careless tool would. Only safe while no process maps
    it: rewriting a mapped file in place is outside the cache's contract (entries are only ever replaced)."""
    path.chmod(0o644)
    path.write_bytes(content)


def entries(cache: Path) -> Path:
    """The session's folder of prepared entries."""
    return cache / ".openretina" / "prepared" / MARMOSET


def load(data: Path, cache: Path, **options) -> dict:  # type: ignore[no-untyped-def]
    return load_all_stimuli(data, species="marmoset", cache_dir=cache, **options)


def test_second_load_reads_the_cache(data: Path, tmp_path: Path, compositions: list[str]) -> None:
    cache = tmp_path / "cache"
    before = listing(data)
    first = load(data, cache)[MARMOSET]
    assert compositions == [MARMOSET]
    second = load(data, cache)[MARMOSET]
    assert compositions == [MARMOSET], "the second load must not compose again"
    np.testing.assert_array_equal(second.train, first.train)
    np.testing.assert_array_equal(second.test, first.test)
    assert (second.norm_mean, second.norm_std) == (first.norm_mean, first.norm_std)
    assert listing(data) == before, "nothing may be written next to the user's files"
    assert any(entries(cache).iterdir())
    # Raw movies from the cache are the normalised ones undone.
    raw = load(data, cache, normalize_stimuli=False)[MARMOSET]
    assert raw.norm_mean is None
    np.testing.assert_allclose(raw.train, first.train * first.norm_std + first.norm_mean, atol=1e-3)


def test_parameter_change_is_not_served_from_the_cache(
    data: Path, tmp_path: Path, compositions: list[str]
) -> None:
    cache = tmp_path / "cache"
    load(data, cache)
    smaller = load(data, cache, target_size=(30, 40))[MARMOSET]
    assert compositions == [MARMOSET, MARMOSET]
    assert smaller.train.shape[2:] == (30, 40)
    fresh = load(data, tmp_path / "other", target_size=(30, 40), use_cache=False)[MARMOSET]
    np.testing.assert_array_equal(smaller.train, fresh.train)


def test_touched_source_is_recomposed(data: Path, tmp_path: Path, compositions: list[str]) -> None:
    cache = tmp_path / "cache"
    old = load(data, cache)[MARMOSET]
    old_entries = list(entries(cache).iterdir())
    path = data / "sessions" / MARMOSET / f"{MARMOSET}_fixationmovie_data.mat"
    stat = path.stat()
    with h5py.File(path, "r+") as handle:  # same size, new content
        fixations = handle["runningfixations"]
        fixations[...] = fixations[()][:, ::-1]
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == stat.st_size
    new = load(data, cache)[MARMOSET]
    assert compositions == [MARMOSET, MARMOSET]
    assert not np.array_equal(new.train, old.train)
    fresh = load(data, tmp_path / "other", use_cache=False)[MARMOSET]
    np.testing.assert_array_equal(new.train, fresh.train)
    assert not any(entry.exists() for entry in old_entries), "the stale entry is removed"


def test_incomplete_entry_is_ignored(data: Path, tmp_path: Path, compositions: list[str]) -> None:
    cache = tmp_path / "cache"
    first_train = np.array(load(data, cache)[MARMOSET].train)  # a copy: the mapping is dropped
    (entry,) = entries(cache).iterdir()
    (entry / "meta.json").unlink()  # as if a writer died before committing
    damage(entry / "train.npy", b"garbage")
    again = load(data, cache)[MARMOSET]
    assert compositions == [MARMOSET, MARMOSET]
    np.testing.assert_array_equal(again.train, first_train)


def test_damaged_entry_is_recomposed(data: Path, tmp_path: Path, compositions: list[str]) -> None:
    cache = tmp_path / "cache"
    first_train = np.array(load(data, cache)[MARMOSET].train)  # a copy: the mapping is dropped
    (entry,) = entries(cache).iterdir()
    data_bytes = (entry / "train.npy").read_bytes()
    damage(entry / "train.npy", data_bytes[: len(data_bytes) // 2])  # truncated behind our back
    again = load(data, cache)[MARMOSET]
    assert compositions == [MARMOSET, MARMOSET]
    np.testing.assert_array_equal(again.train, first_train)
    assert load(data, cache)[MARMOSET].train.shape == first_train.shape
    assert compositions == [MARMOSET, MARMOSET], "the rewritten entry is used again"


def test_use_cache_false_writes_nothing(data: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load(data, cache, use_cache=False)
    assert not (cache / ".openretina" / "prepared").exists()


def test_cached_movies_are_mapped_copy_on_write(data: Path, tmp_path: Path, compositions: list[str]) -> None:
    cache = tmp_path / "cache"
    first = load(data, cache)[MARMOSET]
    (entry,) = entries(cache).iterdir()
    assert sorted(p.name for p in entry.iterdir()) == ["meta.json", "test.npy", "train.npy"], "no leftovers"
    assert not any(p.stat().st_mode & 0o222 for p in entry.glob("*.npy")), "movies are read-only"
    stored = np.load(entry / "train.npy")
    np.testing.assert_array_equal(stored, first.train.transpose(1, 0, 2, 3)), "stored as returned (z-scored)"
    second = load(data, cache)[MARMOSET]
    assert compositions == [MARMOSET]
    second.train[...] = 0.0  # a caller's change stays private
    first.train[...] = 1.0
    np.testing.assert_array_equal(np.load(entry / "train.npy"), stored)
    np.testing.assert_array_equal(load(data, cache)[MARMOSET].train, stored.transpose(1, 0, 2, 3))


def test_failed_composition_leaves_no_partial_files(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("interrupted")

    monkeypatch.setattr(stimuli_module.FixationComposer, "compose", broken)
    with pytest.raises(RuntimeError, match="interrupted"):
        load(data, cache)
    assert not [p for p in (cache / ".openretina" / "prepared").rglob("*") if p.is_file()]


def test_unwritable_cache_still_loads(data: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ".openretina").write_text("a file where the store wants a folder")
    movies = load(data, cache)[MARMOSET]
    fresh = load(data, tmp_path / "other", use_cache=False)[MARMOSET]
    np.testing.assert_array_equal(movies.train, fresh.train)


def test_cache_that_fails_at_commit_still_loads(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rename = os.rename

    def full_disk(source, target):  # type: ignore[no-untyped-def]
        if str(source).endswith(".part"):  # the commit of a prepared entry
            raise OSError(28, "No space left on device")
        return real_rename(source, target)

    monkeypatch.setattr(os, "rename", full_disk)
    movies = load(data, tmp_path / "cache")[MARMOSET]
    fresh = load(data, tmp_path / "other", use_cache=False)[MARMOSET]
    np.testing.assert_array_equal(movies.train, fresh.train)
    assert not list((tmp_path / "cache").rglob("*.part")), "no temporary files left behind"
    assert not list((tmp_path / "cache").rglob("meta.json")), "no entry marked complete"
