"""Contiguous published movies mapped in place from the HDF5 file: batches bit-identical to the copying path,
nothing read but the moments pass, entries invalidated when the file changes, chunked files copied as before."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from openretina_maheswaranathan_2023 import dataloaders as dataloaders_module
from openretina_maheswaranathan_2023.dataloaders import get_maheswaranathan_dataloaders
from openretina_maheswaranathan_2023.in_place import map_in_place, mappable_region, scan_in_place
from openretina_maheswaranathan_2023.layout import find_session_files
from openretina_maheswaranathan_2023.sample import write_sample

from openretina_core import BadFileError
from openretina_core.data import CompactArray, DeviceDataLoader
from openretina_core.store import list_entries, open_entry

STIMULI = ("train/stimulus", "test/stimulus")


def _load(data_dir: Path, **options: Any) -> Any:
    return get_maheswaranathan_dataloaders(batch_size=4, download=False, data_dir=data_dir, **options)


def _rewrite_contiguous(path: Path, dtype: str | None = None, userblock: int = 0) -> None:
    """The file with its stimuli stored contiguous (as h5py writes by default), everything else copied."""
    temp = path.with_suffix(".tmp")
    with h5py.File(path, "r") as src, h5py.File(temp, "w", userblock_size=userblock or None) as dst:
        for name in src:
            src.copy(src[name], dst, name=name)
        for key in STIMULI:
            values = src[key][...]
            del dst[key]
            dst.create_dataset(key, data=values.astype(dtype) if dtype else values)
    os.replace(temp, path)


def _contiguous_copy(sample: Path, root: Path, **options: Any) -> Path:
    data_dir = root / sample.name
    shutil.copytree(sample, data_dir)
    for path in data_dir.rglob("*.h5"):
        if path.parent.parent.name == "ganglion_cell_data":
            _rewrite_contiguous(path, **options)
    return data_dir


def _same_batches(expected: Any, actual: Any) -> None:
    for split in ("train", "validation", "test"):
        assert set(expected[split]) == set(actual[split])
        for session in expected[split]:
            pairs = zip(expected[split][session], actual[split][session], strict=True)
            for (x1, y1), (x2, y2) in pairs:
                assert x2.dtype == torch.float32
                assert torch.equal(x1, x2) and torch.equal(y1, y2), (split, session)


def _mapped_file(loaders: Any) -> str | None:
    """The file whose mapping holds the first train loader's movie (from /proc/self/maps), or None."""
    address = loaders["train"][next(iter(loaders["train"]))].dataset.movie.data_ptr()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        low, high = (int(v, 16) for v in fields[0].split("-"))
        if low <= address < high:
            return fields[5].strip() if len(fields) == 6 and fields[5].startswith("/") else None
    return None


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chunked, gzip-compressed sample (the copying path: the reference)."""
    root = tmp_path_factory.mktemp("chunked")
    return write_sample(root, seed=11, n_sessions=2, n_train=3600, n_test=400).data_dir


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_mapped_in_place_batches_equal_the_copying_path(sample: Path, cache: Path, tmp_path: Path) -> None:
    contiguous = _contiguous_copy(sample, tmp_path)
    _load(sample, prepared=False)  # warm imports
    first = _load(contiguous)
    paths = {str(p.resolve()) for p in find_session_files(contiguous, "naturalscene").values()}
    assert _mapped_file(first) in paths, "the movie is a mapping of the published HDF5 file"
    for usage in list_entries("maheswaranathan_2023"):
        arrays = open_entry(usage.path).arrays
        assert not [name for name in arrays if name.startswith("movie_")], "no frame is copied into the store"
    _same_batches(_load(sample, prepared=False), first)
    second = _load(contiguous)
    assert second.data_info["movie_copies_made"] == 0
    _same_batches(_load(sample, prepared=False), second)
    store_off = _load(contiguous, prepared=False)
    assert _mapped_file(store_off) in paths, "with the store off the file is mapped too"
    _same_batches(_load(sample, prepared=False), store_off)
    # The chunked fallback through the store: copied, and the same batches again.
    _same_batches(_load(sample, prepared=False), _load(sample))
    assert _mapped_file(_load(sample)) not in paths


@pytest.mark.parametrize("normalize", [True, False])
def test_containers_decode_to_the_in_memory_float32_movies(
    sample: Path, tmp_path: Path, normalize: bool
) -> None:
    from openretina_maheswaranathan_2023.stimuli import load_stimuli_for_session

    contiguous = _contiguous_copy(sample, tmp_path, userblock=1024)  # offsets count the user block
    for session, path in find_session_files(contiguous, "naturalscene").items():
        reference = load_stimuli_for_session(path, normalize)
        record = scan_in_place(path, normalize)
        assert record is not None
        mapped = map_in_place(record)
        assert (mapped.norm_mean, mapped.norm_std) == (reference.norm_mean, reference.norm_std), session
        for ours, theirs in ((mapped.train, reference.train), (mapped.test, reference.test)):
            assert ours.dtype == np.float32
            assert isinstance(ours, CompactArray) == normalize, "z-scored per batch; unnormalised as it is"
            values = ours.decoded() if isinstance(ours, CompactArray) else np.asarray(ours)
            np.testing.assert_array_equal(values, theirs)


def test_chunked_big_endian_and_forced_float32_narrow_movies_take_the_copy_path(
    sample: Path, tmp_path: Path
) -> None:
    (path, *_) = find_session_files(sample, "naturalscene").values()
    assert scan_in_place(path) is None, "chunked and gzip-compressed: read as before"
    with h5py.File(tmp_path / "kinds.h5", "w") as h5:
        frames = np.zeros((3, 4, 4), np.float32)
        regions = {
            "float32": h5.create_dataset("float32", data=frames),
            "big": h5.create_dataset("big", data=frames.astype(">f4")),
            "float64": h5.create_dataset("float64", data=frames.astype(np.float64)),
            "uint8": h5.create_dataset("uint8", data=frames.astype(np.uint8)),
            "empty": h5.create_dataset("empty", shape=(3, 4, 4), dtype=np.float32),
        }
        assert mappable_region(regions["float32"]) is not None
        assert mappable_region(regions["float32"], "float32") is not None, "float32 is mapped either way"
        assert mappable_region(regions["uint8"]) is not None
        assert mappable_region(regions["uint8"], "float32") is None, "store_dtype='float32' copies narrow"
        for name in ("big", "float64", "empty"):
            assert mappable_region(regions[name]) is None, name


def test_a_changed_file_invalidates_its_entry(
    sample: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contiguous = _contiguous_copy(sample, tmp_path)
    scans: list[str] = []
    real_scan = dataloaders_module.scan_in_place

    def counting(path: Any, *args: Any) -> Any:
        scans.append(Path(path).parent.name)
        return real_scan(path, *args)

    monkeypatch.setattr(dataloaders_module, "scan_in_place", counting)
    _load(contiguous)
    _load(contiguous)
    sessions = sorted(find_session_files(contiguous, "naturalscene"))
    assert sorted(scans) == sessions, "a later load scans nothing"
    path = find_session_files(contiguous, "naturalscene")[sessions[0]]
    record = scan_in_place(path)
    assert record is not None
    with h5py.File(path, "r+") as h5:  # same size, new values and modification time
        h5["train/stimulus"][0] = h5["train/stimulus"][0] + 1.0
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(BadFileError, match="changed"):
        map_in_place(record)
    changed = _load(contiguous)
    assert sorted(scans) == sorted([*sessions, sessions[0]]), "only the changed session is scanned again"
    assert changed.data_info["stim_mean"] != _load(sample, prepared=False).data_info["stim_mean"]
    _same_batches(_load(contiguous, prepared=False), changed)
    assert len(list_entries("maheswaranathan_2023")) == len(sessions), "the stale entry is removed"
    with h5py.File(path, "r+") as h5:  # the size changes too
        h5.attrs["note"] = np.zeros(4096)
    _same_batches(_load(contiguous, prepared=False), _load(contiguous))
    assert scans.count(sessions[0]) == 3


def test_in_place_loads_read_the_frames_once_for_the_moments(
    sample: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contiguous = _contiguous_copy(sample, tmp_path)
    stimulus_bytes = 0
    for path in find_session_files(contiguous, "naturalscene").values():
        with h5py.File(path, "r") as h5:
            stimulus_bytes += sum(h5[key].nbytes for key in STIMULI)
    read: dict[str, int] = {}
    real_direct, real_getitem = h5py.Dataset.read_direct, h5py.Dataset.__getitem__

    def counting_direct(self: h5py.Dataset, dest: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        if self.name.endswith("stimulus"):
            read["direct"] = read.get("direct", 0) + dest.nbytes
        return real_direct(self, dest, *args, **kwargs)

    def counting_getitem(self: h5py.Dataset, key: Any) -> Any:
        if self.name.endswith("stimulus"):
            read["getitem"] = read.get("getitem", 0) + 1
        return real_getitem(self, key)

    monkeypatch.setattr(h5py.Dataset, "read_direct", counting_direct)
    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting_getitem)
    first = _load(contiguous)
    next(iter(first["train"][next(iter(first["train"]))]))
    assert read == {"direct": stimulus_bytes}, "the frames are read once, in the moments pass"
    stored = sum(usage.bytes for usage in list_entries("maheswaranathan_2023"))
    assert stored < stimulus_bytes / 10, "the store holds the small things only"
    read.clear()
    opened: list[str] = []
    real_file = h5py.File
    monkeypatch.setattr(
        h5py, "File", lambda path, *a, **k: opened.append(str(path)) or real_file(path, *a, **k)
    )
    later = _load(contiguous)
    for batch in later["train"][next(iter(later["train"]))]:
        assert batch.inputs.dtype == torch.float32
    assert read == {} and opened == [], "a later load opens no HDF5 file and reads only the batches' pages"


def test_workers_and_decode_after_transfer_over_the_mapping(
    sample: Path, cache: Path, tmp_path: Path
) -> None:
    contiguous = _contiguous_copy(sample, tmp_path)
    reference = _load(sample, prepared=False)
    _same_batches(reference, _load(contiguous, num_workers=2))
    # Chunks read with pread from the HDF5 file's region (RSS bounded by the batch buffers), decoded per batch.
    # Fresh reference loaders each time: iterating a train loader again draws the next epoch's order.
    by_file = _load(contiguous, movie_reads="file")
    rows = by_file["train"][next(iter(by_file["train"]))].dataset._movie_chunks.file_rows
    assert rows is not None and rows.path.endswith("naturalscene.h5") and rows.offset > 0
    _same_batches(_load(sample, prepared=False), by_file)
    _same_batches(_load(sample, prepared=False), _load(contiguous, movie_reads="file", num_workers=2))
    in_place = _load(contiguous)
    session = next(iter(in_place["train"]))
    # A raw float32 movie is decoded while batches are assembled, even when asked to decode after a transfer.
    moved = DeviceDataLoader(in_place["validation"][session], torch.device("cpu"), decode_after_transfer=True)
    for (x1, y1), (x2, y2) in zip(reference["validation"][session], moved, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


@pytest.mark.parametrize("store_dtype", ["published", "float32"])
def test_narrow_contiguous_movies_are_mapped_compact_or_copied_as_asked(
    tmp_path: Path, cache: Path, store_dtype: str
) -> None:
    chunked = write_sample(
        tmp_path / "u8", seed=4, n_sessions=1, n_train=3600, n_test=200, stimulus_dtype="uint8"
    )
    contiguous = _contiguous_copy(chunked.data_dir, tmp_path / "contiguous")
    loaders = _load(contiguous, store_dtype=store_dtype)
    movie = loaders["train"][next(iter(loaders["train"]))].dataset.movie
    assert movie.dtype == (torch.uint8 if store_dtype == "published" else torch.float32)
    assert (_mapped_file(loaders) is not None and _mapped_file(loaders).endswith(".h5")) == (
        store_dtype == "published"
    )
    _same_batches(_load(chunked.data_dir, prepared=False), loaders)
