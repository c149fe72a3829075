"""Compact stimulus storage: published uint8/int8/float16 movies stored as they are and decoded per batch.

The float32 reference throughout is what the float32 path computes: convert to float32, subtract, divide (each
step rounded to float32, as ``zscore_in_place`` does). The decode runs the same IEEE operations (the channel
values are tensors, never scalars a device might turn into a reciprocal multiply), and every narrow dtype
converts to float32 exactly, so equality is asserted bit for bit, which is stricter than "within float32
rounding".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from openretina_core import (
    LongCycler,
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    multiple_movies_dataloaders,
)
from openretina_core.data import CompactArray, DeviceDataLoader, StimulusMap, as_compact, keeps_compact
from openretina_core.data.decode import BatchDecoder
from openretina_core.registry.errors import BadDataError
from openretina_core.store import list_entries, open_entry, prepared_session
from openretina_core.store.layout import META_NAME, read_entry_meta

DTYPES = ("uint8", "int8", "float16")


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


def reference(raw: np.ndarray, sub: np.ndarray, div: np.ndarray, channel_axis: int) -> np.ndarray:
    """The float32 path: convert, subtract, divide, per channel."""
    shape = [1] * raw.ndim
    shape[channel_axis] = raw.shape[channel_axis]
    out = raw.astype(np.float32)
    np.subtract(out, sub.reshape(shape), out=out)
    np.divide(out, div.reshape(shape), out=out)
    return out


def published(dtype: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "float16":
        return (rng.random(shape) * 2 - 1).astype(np.float16)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dtype)


def session(
    dtype: str, seed: int = 0, channels: int = 2
) -> tuple[MoviesTrainTestSplit, ResponsesTrainTestSplit]:
    """A session whose movies are compact (``dtype``) with a per-channel z-score map."""
    raw_train = published(dtype, (600, channels, 4, 5), seed)  # time-major, as a reader fills it
    raw_test = published(dtype, (100, channels, 4, 5), seed + 1)
    values = raw_train.astype(np.float64)
    stimulus_map = StimulusMap(values.mean(axis=(0, 2, 3)), values.std(axis=(0, 2, 3)) + 0.5)
    rng = np.random.default_rng(seed)
    movies = MoviesTrainTestSplit(
        train=as_compact(raw_train.transpose(1, 0, 2, 3), stimulus_map),
        test_dict={"frozen": as_compact(raw_test.transpose(1, 0, 2, 3), stimulus_map)},
        stim_id="noise",
    )
    responses = ResponsesTrainTestSplit(
        train=rng.random((3, 600)), test_dict={"frozen": rng.random((3, 100))}, stim_id="noise"
    )
    return movies, responses


def float32_twin(movies: MoviesTrainTestSplit) -> MoviesTrainTestSplit:
    """The same movies decoded to float32 once (the float32 storage path)."""
    assert isinstance(movies.train, CompactArray)
    return MoviesTrainTestSplit(
        train=np.ascontiguousarray(movies.train.decoded().transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3),
        test_dict={
            k: np.ascontiguousarray(m.decoded().transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
            for k, m in movies.test_dict.items()
        },
        stim_id=movies.stim_id,
    )


def assert_same_batches(
    expected: dict, actual: dict, splits: tuple[str, ...] = ("train", "validation", "frozen")
) -> None:
    for split in splits:
        for key in expected[split]:
            for (x1, y1), (x2, y2) in zip(expected[split][key], actual[split][key], strict=True):
                assert x2.dtype == torch.float32 and x2.shape == x1.shape
                assert torch.equal(x1, x2) and torch.equal(y1, y2), (split, key)


OPTIONS = {"clip_length": 100, "num_val_clips": 2, "batch_size": 4, "seed": 3}


# -- the decode itself ---------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    channels=st.integers(1, 3),
    frames=st.integers(1, 6),
)
def test_decode_equals_the_float32_path_bit_for_bit(
    data: st.DataObject, dtype: str, channels: int, frames: int
) -> None:
    elements = {"allow_nan": False, "allow_infinity": False} if dtype == "float16" else {}
    raw = data.draw(hnp.arrays(np.dtype(dtype), (2, frames, channels, 3, 2), elements=elements))
    finite = st.floats(-300, 300, allow_nan=False, width=32)
    sub = np.array(data.draw(st.lists(finite, min_size=channels, max_size=channels)), dtype=np.float32)
    div = np.array(
        data.draw(st.lists(finite.filter(lambda v: abs(v) > 1e-3), min_size=channels, max_size=channels)),
        dtype=np.float32,
    )
    stimulus_map = StimulusMap(sub, div)
    expected = reference(raw, sub, div, channel_axis=2)
    decoded = BatchDecoder(stimulus_map, channels).decode(torch.from_numpy(raw), 2).numpy()
    np.testing.assert_array_equal(decoded, expected)
    np.testing.assert_array_equal(stimulus_map.decode(raw, channel_axis=2), expected)
    # The containers' layout, (C, T, H, W), blocked along time.
    movie = np.ascontiguousarray(raw[0].transpose(1, 0, 2, 3))
    np.testing.assert_array_equal(stimulus_map.decode(movie, 0), reference(movie, sub, div, 0))


@pytest.mark.parametrize("block_bytes", [1, 100, 4 << 20])
def test_blocked_cpu_decode_equals_one_pass(block_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from openretina_core.data import decode

    monkeypatch.setattr(decode, "DECODE_BLOCK_BYTES", block_bytes)
    raw = published("uint8", (7, 3, 2, 4, 4), 2)
    sub, div = np.array([3.0, -1.5], np.float32), np.array([7.0, 0.3], np.float32)
    decoded = BatchDecoder(StimulusMap(sub, div), 2).decode(torch.from_numpy(raw), 2)
    np.testing.assert_array_equal(decoded.numpy(), reference(raw, sub, div, channel_axis=2))


def test_cpu_decode_runs_under_its_own_measured_thread_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decode's elementwise ops take the thread count measured for decodes of their size (as copies do),
    from a policy of its own, and the values do not depend on the count chosen."""
    from openretina_core.data import copy_threads

    seen: list[tuple[int, int]] = []
    original = copy_threads.DECODE_THREADS.threads_for

    def record(nbytes: int, caller: int) -> int:
        seen.append((nbytes, caller))
        return original(nbytes, caller)

    monkeypatch.setattr(copy_threads.DECODE_THREADS, "threads_for", record)
    raw = published("uint8", (16, 2, 10, 32, 32), 2)
    sub, div = np.array([3.0, -1.5], np.float32), np.array([7.0, 0.3], np.float32)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        decoded = BatchDecoder(StimulusMap(sub, div), 2).decode(torch.from_numpy(raw), 1)
    finally:
        torch.set_num_threads(before)
    assert seen and seen[0][0] == raw.size * 4
    np.testing.assert_array_equal(decoded.numpy(), reference(raw, sub, div, channel_axis=1))
    assert copy_threads.DECODE_THREADS is not copy_threads.COPY_THREADS


def test_decode_of_a_permuted_batch_keeps_its_layout() -> None:
    raw = torch.from_numpy(published("uint8", (3, 5, 2, 4, 4), 1))  # (B, T, C, H, W)
    decoder = BatchDecoder(StimulusMap([1.0, 2.0], [3.0, 0.5]), 2)
    direct = decoder.decode(raw, 2).permute(0, 2, 1, 3, 4)
    after = decoder.decode(raw.permute(0, 2, 1, 3, 4), 1)  # what DeviceDataLoader decodes
    assert torch.equal(direct, after) and after.stride() == direct.stride()


def test_maps_and_compact_arrays_refuse_what_they_cannot_hold() -> None:
    with pytest.raises(BadDataError, match="divide"):
        StimulusMap(0.0, 0.0)
    with pytest.raises(BadDataError, match="one per channel"):
        StimulusMap([0.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(BadDataError, match="float32 instead"):
        as_compact(np.zeros((1, 2, 2, 2), np.float64), StimulusMap.identity())
    with pytest.raises(BadDataError, match="native byte order"):
        as_compact(np.zeros((1, 2, 2, 2), ">f4"), StimulusMap.identity())
    # float32 is allowed: a published float32 movie mapped in place, z-scored per batch.
    assert as_compact(np.zeros((1, 2, 2, 2), np.float32), StimulusMap(1.0, 2.0)).dtype == np.float32
    assert keeps_compact("uint8") and keeps_compact("float16") and not keeps_compact("float32")
    assert not keeps_compact("uint8", "float32"), "store_dtype='float32' forces float32"
    with pytest.raises(ValueError, match="store_dtype"):
        keeps_compact("uint8", "bfloat16")
    movie = as_compact(np.zeros((1, 4, 2, 2), np.uint8), StimulusMap(1.0, 2.0))
    assert isinstance(movie[:, :2], CompactArray) and movie[:, :2].stimulus_map == movie.stimulus_map
    assert type(movie + 1) is np.ndarray, "arithmetic gives plain arrays, never a mislabelled compact one"
    assert MoviesTrainTestSplit(train=movie).train is movie, "containers keep compact movies as they are"


# -- through the store ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_store_round_trip_keeps_dtype_and_map_and_batches_equal_float32(source: Path, dtype: str) -> None:
    calls = []

    def read() -> tuple[MoviesTrainTestSplit, ResponsesTrainTestSplit]:
        calls.append(1)
        return session(dtype)

    prepared_session("toy", "s1", params={}, sources=[source], read=read)
    movies, responses = prepared_session("toy", "s1", params={}, sources=[source], read=read)
    assert len(calls) == 1 and movies is not None and responses is not None
    ref_movies, ref_responses = session(dtype)
    assert isinstance(movies.train, CompactArray) and movies.train.dtype == np.dtype(dtype)
    assert movies.train.stimulus_map == ref_movies.train.stimulus_map
    np.testing.assert_array_equal(movies.train, ref_movies.train)
    np.testing.assert_array_equal(movies.test_dict["frozen"], ref_movies.test_dict["frozen"])
    (usage,) = list_entries("toy")
    entry = open_entry(usage.path)
    assert entry["movie_train"].dtype == np.dtype(dtype), "stored in the published dtype"
    assert entry.nbytes < 600 * 2 * 20 * 4, "the movie takes fewer bytes than float32"
    mapped = multiple_movies_dataloaders({"s1": responses}, movies, **OPTIONS)
    assert mapped.data_info["movie_copies_made"] == 0
    assert mapped["train"]["s1"].dataset.movie.dtype == getattr(torch, dtype)
    memory = multiple_movies_dataloaders({"s1": ref_responses}, float32_twin(ref_movies), **OPTIONS)
    assert_same_batches(memory, mapped)
    by_file = multiple_movies_dataloaders({"s1": responses}, movies, movie_reads="file", **OPTIONS)
    assert by_file["train"]["s1"].dataset._movie_chunks.reads_file
    memory = multiple_movies_dataloaders({"s1": ref_responses}, float32_twin(ref_movies), **OPTIONS)
    assert_same_batches(memory, by_file)


def test_older_store_formats_are_never_read(source: Path) -> None:
    prepared_session("toy", "s1", params={}, sources=[source], read=lambda: session("uint8"))
    (usage,) = list_entries("toy")
    meta_path = usage.path / META_NAME
    meta = json.loads(meta_path.read_text())
    assert meta["store"] == 2 and "maps" in meta["user"]["session"]["movies"]
    meta["store"] = 1  # what an entry written before compact storage says
    meta_path.chmod(0o644)
    meta_path.write_text(json.dumps(meta))
    assert read_entry_meta(usage.path) is None, "a format-1 entry would be misread: it is not an entry"
    calls = []
    prepared_session(
        "toy", "s1", params={}, sources=[source], read=lambda: calls.append(1) or session("uint8")
    )
    assert calls == [1], "it is prepared again"


def test_decode_after_transfer_equals_decode_while_gathering(source: Path) -> None:
    movies, responses = prepared_session(
        "toy", "s1", params={}, sources=[source], read=lambda: session("uint8")
    )
    assert movies is not None and responses is not None
    plain = multiple_movies_dataloaders({"s1": responses}, movies, **OPTIONS)
    deferred = multiple_movies_dataloaders({"s1": responses}, movies, **OPTIONS)
    wrapped = {
        split: {
            k: DeviceDataLoader(dl, torch.device("cpu"), decode_after_transfer=True)
            for k, dl in group.items()
        }
        for split, group in deferred.items()
    }
    raw_batch = next(iter(deferred["validation"]["s1"]))
    assert raw_batch.inputs.dtype == torch.uint8, "the wrapped loader hands out compact batches"
    assert_same_batches(plain, wrapped)


def test_flipped_and_whole_movie_views_decode(source: Path) -> None:
    from openretina_core.data import MovieDataset

    movies, _ = session("int8")
    twin = float32_twin(movies)
    movie = torch.from_numpy(np.ascontiguousarray(np.moveaxis(movies.train, 0, 1)))
    ref = torch.from_numpy(np.ascontiguousarray(np.moveaxis(twin.train, 0, 1)))
    responses = torch.zeros(600, 3)
    compact_ds = MovieDataset(movie, responses, 50, flip_width=True, movie_map=movies.train.stimulus_map)
    float_ds = MovieDataset(ref, responses, 50, flip_width=True)
    assert torch.equal(compact_ds.__getitems__([0, 7, 550]).inputs, float_ds.__getitems__([0, 7, 550]).inputs)
    assert torch.equal(compact_ds[3].inputs, float_ds[3].inputs)
    assert torch.equal(compact_ds.movies, float_ds.movies) and compact_ds.movies.dtype == torch.float32


def test_workers_over_compact_mapped_stores(source: Path) -> None:
    responses, movies, twins = {}, {}, {}
    for i, name in enumerate(("a", "b")):
        movie, response = prepared_session(
            "toy", name, params={}, sources=[source], read=lambda i=i: session("uint8", i)
        )
        assert movie is not None and response is not None
        movies[name], responses[name], twins[name] = movie, response, float32_twin(session("uint8", i)[0])
    loaders = multiple_movies_dataloaders(responses, movies, clip_length=100, num_val_clips=2, batch_size=4)
    floats = multiple_movies_dataloaders(responses, twins, clip_length=100, num_val_clips=2, batch_size=4)
    reference_batches = [(k, x.clone()) for k, (x, _) in LongCycler(floats["train"], seed=1)]
    with_workers = list(LongCycler(loaders["train"], seed=1).as_dataloader(num_workers=2))
    assert [k for k, _ in with_workers] == [k for k, _ in reference_batches]
    for (_, (x, _)), (_, ref) in zip(with_workers, reference_batches, strict=True):
        assert x.dtype == torch.float32 and torch.equal(x, ref)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_are_decoded_after_the_transfer_and_equal_the_cpu_ones(source: Path) -> None:
    from openretina_core.data import to_device

    movies, responses = prepared_session(
        "toy", "s1", params={}, sources=[source], read=lambda: session("uint8")
    )
    assert movies is not None and responses is not None
    on_gpu = to_device(
        multiple_movies_dataloaders({"s1": responses}, movies, **OPTIONS), "cuda", keep_on_device=False
    )
    assert on_gpu["train"]["s1"].dataset.decode_after_transfer, "the bus carries the compact batch"
    kept = to_device(
        multiple_movies_dataloaders({"s1": responses}, movies, **OPTIONS), "cuda", keep_on_device=True
    )
    assert kept["train"]["s1"].dataset.movie.dtype == torch.uint8, "kept on the device compact"
    for loaders in (on_gpu, kept):
        fresh = multiple_movies_dataloaders({"s1": responses}, movies, **OPTIONS)
        for split in ("train", "validation", "frozen"):
            for (x1, y1), (x2, y2) in zip(fresh[split]["s1"], loaders[split]["s1"], strict=True):
                assert x2.is_cuda and x2.dtype == torch.float32
                assert torch.equal(x1, x2.cpu()) and torch.equal(y1, y2.cpu()), split


def test_file_reads_advise_the_kernel_of_the_next_batch(
    source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openretina_core import LongCycler
    from openretina_core.data import file_rows

    movies, responses = prepared_session(
        "toy", "s1", params={}, sources=[source], read=lambda: session("uint8")
    )
    assert movies is not None and responses is not None
    advised: list[tuple[int, int]] = []
    real = os.posix_fadvise

    def counting(fd: int, offset: int, length: int, advice: int) -> None:
        if advice == os.POSIX_FADV_WILLNEED:
            advised.append((offset, length))
        real(fd, offset, length, advice)

    monkeypatch.setattr(file_rows.os, "posix_fadvise", counting)
    by_file = multiple_movies_dataloaders({"s1": responses}, movies, movie_reads="file", **OPTIONS)
    batches = [x.clone() for _, (x, _) in LongCycler(by_file["train"], seed=1)]
    file_rows.ADVISER.wait()  # the advice is given by the adviser's thread
    assert len(batches) > 1 and advised, "every batch after the first was announced to the kernel"
    row = int(np.prod(movies.train.shape[2:])) * movies.train.shape[0]
    assert all(length % row == 0 for _, length in advised)
    fresh = multiple_movies_dataloaders({"s1": responses}, movies, movie_reads="memory", **OPTIONS)
    reference_batches = [x for _, (x, _) in LongCycler(fresh["train"], seed=1)]
    assert all(torch.equal(a, b) for a, b in zip(batches, reference_batches, strict=True))


def test_the_adviser_gives_queued_advice_in_its_thread_and_drops_it_when_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Advice is a hint given off the caller's thread: queued in order, dropped (never blocking the batch)
    when the disk is so far behind that the queue is full, and a forked child starts its own thread."""
    import threading

    from openretina_core.data import file_rows

    path = tmp_path / "rows.bin"
    path.write_bytes(bytes(1 << 16))
    given: list[tuple[str, int, int]] = []
    release = threading.Event()

    def slow(fd: int, offset: int, length: int, advice: int) -> None:
        release.wait(5)
        given.append((threading.current_thread().name, offset, length))

    monkeypatch.setattr(file_rows.os, "posix_fadvise", slow)
    adviser = file_rows._Adviser(depth=2)
    fd = os.open(path, os.O_RDONLY)
    try:
        for k in range(6):  # the thread holds one, the queue two: the rest are dropped
            adviser.advise(fd, [(k * 4096, 4096)])
        release.set()
        adviser.wait()
    finally:
        os.close(fd)
    assert {name for name, _, _ in given} == {"advise"}
    offsets = [offset for _, offset, _ in given]
    assert offsets == sorted(offsets) and 2 <= len(offsets) <= 3 and offsets[0] == 0
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        fd = os.open(path, os.O_RDONLY)
        adviser.advise(fd, [(0, 4096)])
        adviser.wait()
        os.write(write, b"1" if adviser._pid == os.getpid() else b"0")
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 1) == b"1"
