"""The bounded-memory HDF5 reader (the core's ``openretina_core.data.h5blocks``, as this plugin uses it): block-wise
copies, any stored dtype, exact statistics."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from openretina_maheswaranathan_2023 import h5read, load_all_stimuli, write_sample

from openretina_core.data import h5blocks


def test_moments_match_float64_statistics() -> None:
    rng = np.random.default_rng(0)
    # A low-contrast movie far from zero: the case where naive sum-of-squares formulas lose precision.
    data = (200.0 + 0.5 * rng.standard_normal((3000, 50, 50))).astype(np.float32)
    moments = h5blocks.RunningMoments()
    for start in range(0, len(data), 317):
        moments.add(data[start : start + 317])
    reference = data.astype(np.float64)
    assert moments.count == data.size
    assert moments.mean == pytest.approx(reference.mean(), rel=1e-7)
    assert moments.std == pytest.approx(reference.std(ddof=1), rel=1e-5)


def test_moments_of_one_large_block_are_accurate() -> None:
    """One block of a realistic size (a BLAS dot over it in float32 lost ~1e-4 of the variance)."""
    rng = np.random.default_rng(2)
    data = (0.5 + 0.17 * rng.standard_normal(18_000_000)).astype(np.float32)
    moments = h5blocks.RunningMoments()
    moments.add(data)
    reference = data.astype(np.float64)
    assert moments.mean == pytest.approx(reference.mean(), rel=1e-7)
    assert moments.std == pytest.approx(reference.std(ddof=1), rel=1e-7)


@pytest.mark.parametrize(
    ("dtype", "layout"),
    [("float32", "contiguous"), ("float32", "chunked"), ("uint8", "chunked"), ("float64", "contiguous")],
)
def test_read_movie_blockwise_any_dtype(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str, layout: str
) -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(257, 50, 50)).astype(dtype)
    path = tmp_path / "movie.h5"
    with h5py.File(path, "w") as h5:
        kwargs = {"chunks": (10, 50, 50), "compression": "gzip"} if layout == "chunked" else {}
        h5.create_dataset("train/stimulus", data=frames, **kwargs)
    # Blocks of 7 frames: many blocks, not aligned to the chunks of 10 (they are rounded up to 10).
    monkeypatch.setattr(h5blocks, "READ_BLOCK_BYTES", 7 * 50 * 50 * 4)
    with h5py.File(path, "r") as h5:
        buffer, moments = h5read.read_movie(h5["train/stimulus"], path, moments=True)
    assert buffer.shape == (257, 1, 50, 50) and buffer.dtype == np.float32
    np.testing.assert_array_equal(buffer[:, 0], frames.astype(np.float32))
    assert moments is not None
    assert moments.mean == pytest.approx(frames.astype(np.float64).mean(), rel=1e-7)
    assert moments.std == pytest.approx(frames.astype(np.float64).std(ddof=1), rel=1e-6)


def test_frame_blocks_cover_every_frame_once() -> None:
    for chunk in (None, 1, 3, 100):
        blocks = list(h5blocks.frame_blocks(1003, 2500 * 4, chunk))
        covered = np.concatenate([np.arange(b.start, b.stop) for b in blocks])
        np.testing.assert_array_equal(covered, np.arange(1003))
        if chunk:
            assert all(b.start % chunk == 0 for b in blocks)


def test_uint8_files_load_like_float32_files(tmp_path: Path) -> None:
    as_float = write_sample(tmp_path / "f32", seed=3, n_sessions=1, n_train=1800, n_test=180)
    as_uint8 = write_sample(
        tmp_path / "u8", seed=3, n_sessions=1, n_train=1800, n_test=180, stimulus_dtype="uint8"
    )
    path = as_uint8.data_dir / "ganglion_cell_data" / "15-10-07" / "naturalscene.h5"
    with h5py.File(path, "r") as h5:
        assert h5["train/stimulus"].dtype == np.uint8
        stored = h5["train/stimulus"][...].astype(np.float64)
    (split,) = load_all_stimuli(as_uint8.data_dir).values()
    np.testing.assert_allclose(split.train[0], (stored - stored.mean()) / stored.std(ddof=1), atol=1e-4)
    (reference,) = load_all_stimuli(as_float.data_dir).values()
    # Same random checks, stored as 0..255 or 0..1: identical after z-scoring.
    np.testing.assert_allclose(split.train, reference.train, atol=1e-4)
