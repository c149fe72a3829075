"""Arrays written through the file are hashed and checked while written: the recorded sha256 and finiteness
must be what reading the committed file back gives (``digest_file``, ``verify_entry``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openretina_core.store import prepare_entry, verify_entry
from openretina_core.store import writer as writer_module
from openretina_core.store.layout import digest_file


def _entry(root: Path, arrays: dict[str, np.ndarray]) -> dict:
    def build(writer) -> None:
        for name, values in arrays.items():
            writer.put(name, values)

    entry = prepare_entry("toy_2025", "s1", params={}, sources=[], build=build, dataset_root=root)
    assert entry.folder is not None and verify_entry(entry.folder) == []
    return entry.meta["arrays"]


@pytest.mark.parametrize("chunk", [64, 4096, 1 << 26])
def test_digest_taken_while_writing_matches_the_file(tmp_path: Path, chunk: int, monkeypatch) -> None:
    monkeypatch.setattr(writer_module, "CHUNK_BYTES", chunk)

    def no_reread(path: Path, progress) -> None:
        raise AssertionError(
            f"{path} was read back: arrays written through the file are checked while written"
        )

    monkeypatch.setattr(writer_module, "digest_file", no_reread)
    rng = np.random.default_rng(1)
    movie = rng.standard_normal((301, 3, 7)).astype(np.float32)
    counts = rng.integers(0, 9, (250, 4)).astype(np.int16)
    bad = movie.copy()
    bad[299, 2, 6] = np.nan  # in the last chunk
    specs = _entry(tmp_path, {"movie": movie, "counts": counts, "bad": bad})
    folder = next((tmp_path / ".openretina" / "prepared" / "s1").iterdir())
    for name, values in (("movie", movie), ("counts", counts), ("bad", bad)):
        expected = hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()
        assert specs[name]["sha256"] == expected
        assert (specs[name]["sha256"], specs[name]["finite"]) == digest_file(
            folder / f"{name}.npy", lambda n: None
        )
    assert specs["movie"]["finite"] and specs["counts"]["finite"] and not specs["bad"]["finite"]


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 6),
    chunk=st.integers(1, 300),
    bad_at=st.none() | st.integers(0, 10_000),
    dtype=st.sampled_from(["float32", "float64", "float16", "uint8", "int64"]),
)
def test_write_check_matches_reading_back(rows, cols, chunk, bad_at, dtype, tmp_path_factory) -> None:
    """Any chunking, dtype and position of a non-finite value: the same digest and flag as reading back."""
    root = tmp_path_factory.mktemp("entry")
    values = np.arange(rows * cols, dtype=np.float64).reshape(rows, cols).astype(dtype)
    if bad_at is not None and np.issubdtype(values.dtype, np.floating):
        values.reshape(-1)[bad_at % values.size] = np.inf
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(writer_module, "CHUNK_BYTES", chunk)
        spec = _entry(root, {"a": values})["a"]
    folder = next((root / ".openretina" / "prepared" / "s1").iterdir())
    assert (spec["sha256"], spec["finite"]) == digest_file(folder / "a.npy", lambda n: None)
    assert spec["finite"] == bool(np.isfinite(values.astype(np.float64)).all())


@settings(max_examples=20, deadline=None)
@given(
    rows=st.integers(0, 50),
    chunk=st.integers(1, 500),
    bad_at=st.none() | st.integers(0, 10_000),
    dtype=st.sampled_from(["float32", "float16", "uint8", "int16"]),
)
def test_mapped_arrays_are_hashed_from_the_mapping_and_match_the_file(
    tmp_path_factory: pytest.TempPathFactory, rows: int, chunk: int, bad_at: int | None, dtype: str
) -> None:
    """``allocate()``d arrays are hashed and checked from their mapping (no flush, no read back); the record
    must equal what reading the committed file gives, and ``verify_entry`` must agree."""
    root = tmp_path_factory.mktemp("mapped")
    values = (np.arange(rows * 5, dtype=np.float64).reshape(rows, 5) % 200).astype(dtype)
    if bad_at is not None and values.size and np.issubdtype(values.dtype, np.floating):
        values.reshape(-1)[bad_at % values.size] = np.inf

    def build(writer) -> None:
        target = writer.allocate("movie", values.shape, values.dtype)
        target[...] = values

    original = writer_module.CHUNK_BYTES
    writer_module.CHUNK_BYTES = chunk
    try:
        entry = prepare_entry("toy_2025", "s1", params={}, sources=[], build=build, dataset_root=root)
    finally:
        writer_module.CHUNK_BYTES = original
    assert entry.folder is not None and verify_entry(entry.folder) == []
    spec = entry.meta["arrays"]["movie"]
    assert spec["sha256"] == hashlib.sha256(values.tobytes()).hexdigest()
    assert (spec["sha256"], spec["finite"]) == digest_file(entry.folder / "movie.npy", lambda n: None)
    np.testing.assert_array_equal(np.load(entry.folder / "movie.npy"), values)


@pytest.mark.parametrize("prefetch", [True, False])
def test_streamed_frames_that_reuse_buffers_are_hashed_as_written(
    tmp_path: Path, monkeypatch, prefetch
) -> None:
    """``StreamedFrames`` hands out two buffers in turn and renders the next slice ahead: a chunk must be
    hashed before its buffer is filled again (the digest once took later frames' bytes from the 3rd chunk on,
    while the file itself was right)."""
    from openretina_core.data.fixation_movies import StreamedFrames

    monkeypatch.setattr(writer_module, "CHUNK_BYTES", 64 * 40)  # 40 rows of 64 bytes per chunk: 25 chunks

    def render(start: int, stop: int, out: np.ndarray) -> None:
        out[:] = (np.arange(start, stop)[:, None] * 7 + np.arange(64)) % 251

    def build(writer) -> None:
        stream = StreamedFrames((1000, 64), np.uint8, render, prefetch=prefetch)
        try:
            writer.put("frames", stream, np.uint8)
        finally:
            stream.close()

    entry = prepare_entry("toy_2025", "s1", params={}, sources=[], build=build, dataset_root=tmp_path)
    expected = np.empty((1000, 64), np.uint8)
    render(0, 1000, expected)
    assert entry.meta["arrays"]["frames"]["sha256"] == hashlib.sha256(expected.tobytes()).hexdigest()
    assert entry.folder is not None and verify_entry(entry.folder) == []


@pytest.mark.parametrize("steps", [[1000], [1, 2, 999, 1000], [0, 333, 333, 700], [250]])
def test_mapped_rows_declared_filled_are_hashed_as_the_file_reads(tmp_path: Path, monkeypatch, steps) -> None:
    """``EntryWriter.filled``: rows of an ``allocate()``d array hashed while the rest is filled; the rows never
    declared are hashed at the commit, and the record is the committed file's digest and finiteness."""
    monkeypatch.setattr(writer_module, "CHUNK_BYTES", 4 * 3 * 50)  # 50 rows a chunk
    rng = np.random.default_rng(3)
    values = rng.standard_normal((1000, 3)).astype(np.float32)
    values[640, 1] = np.inf

    def build(writer) -> None:
        out = writer.allocate("movie", values.shape, np.float32)
        done = 0
        for stop in steps:
            out[done:stop] = values[done:stop]
            writer.filled("movie", stop)
            done = max(done, stop)
        out[done:] = values[done:]

    entry = prepare_entry("toy_2025", "s1", params={}, sources=[], build=build, dataset_root=tmp_path)
    spec = entry.meta["arrays"]["movie"]
    assert spec["sha256"] == hashlib.sha256(values.tobytes()).hexdigest() and spec["finite"] is False
    assert entry.folder is not None
    assert (spec["sha256"], spec["finite"]) == digest_file(entry.folder / "movie.npy", lambda n: None)
