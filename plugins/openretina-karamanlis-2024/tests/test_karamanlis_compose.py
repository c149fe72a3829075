"""Fixation-movie composition against a slow, obviously correct per-frame reference.

The reference places the image into a zeroed 600x800 screen exactly as the authors' returnFixMovie.m does
(screen column c shows image column x - 400 + c, row r shows image row y - 300 + r, 1-based; nothing wraps)
and resizes it with torch's antialiased bilinear interpolation. Tolerance: 1e-4 of the largest value.
"""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from openretina_karamanlis_2024 import compose as compose_module
from openretina_karamanlis_2024.compose import FixationComposer, compose_fixation_movie
from openretina_karamanlis_2024.resize import axis_resize, resize_operator

RTOL = 1e-4


def place_on_screen(image: np.ndarray, x: int, y: int) -> np.ndarray:
    """Image ``(Ny, Nx)`` on a zeroed 600x800 screen, pixel (x, y) (1-based) on screen pixel (400, 300)."""
    screen = np.zeros((600, 800), dtype=np.float32)
    for r in range(1, 601):
        image_row = y - 300 + r
        if not 1 <= image_row <= image.shape[0]:
            continue
        for c in range(1, 801):
            image_col = x - 400 + c
            if 1 <= image_col <= image.shape[1]:
                screen[r - 1, c - 1] = image[image_row - 1, image_col - 1]
    return screen


def place_fast(image: np.ndarray, x: int, y: int) -> np.ndarray:
    """The same placement with slices (checked against :func:`place_on_screen` below)."""
    screen = np.zeros((600, 800), dtype=np.float32)
    ny, nx = image.shape
    r0, r1 = max(0, 300 - y), min(600, ny + 300 - y)
    c0, c1 = max(0, 400 - x), min(800, nx + 400 - x)
    if r1 > r0 and c1 > c0:
        screen[r0:r1, c0:c1] = image[y - 300 + r0 : y - 300 + r1, x - 400 + c0 : x - 400 + c1]
    return screen


def reference_movie(images_yx: np.ndarray, fixations: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    frames = []
    for k, x, y in fixations.astype(int):
        screen = torch.from_numpy(place_fast(images_yx[k - 1].astype(np.float32), x, y))
        resized = F.interpolate(
            screen[None, None], size=size, mode="bilinear", antialias=True, align_corners=False
        )
        frames.append(resized[0, 0].numpy())
    return np.stack(frames)


def edge_positions(n_image: int, fixed: int, screen: int) -> list[int]:
    """Fixation coordinates along one axis (image length ``n_image``; screen pixel ``fixed`` of ``screen``).

    The image covers screen pixels ``fixed + 1 - v`` to ``fixed - v + n_image`` (1-based) for coordinate v.
    """
    return [
        n_image // 2 + fixed,  # crosses the first screen edge
        n_image // 2 - (screen - fixed),  # crosses the last screen edge
        fixed,  # starts exactly at the first screen pixel
        n_image - (screen - fixed),  # ends exactly at the last screen pixel
        fixed - 1,
        fixed + 1,
        n_image - (screen - fixed) + 1,
        n_image - (screen - fixed) - 1,
        fixed + n_image + 5,  # entirely before the screen
        fixed - screen - 5,  # entirely after it
        n_image // 2,  # centred
    ]


def edge_fixations(rng: np.random.Generator, n: int, n_images: int, ny: int, nx: int) -> np.ndarray:
    """Every combination of the edge cases along x and y, plus ``n`` random fixations."""
    special = [
        (int(rng.integers(1, n_images + 1)), x, y)
        for x in edge_positions(nx, 400, 800)
        for y in edge_positions(ny, 300, 600)
    ]
    random = np.stack(
        [rng.integers(1, n_images + 1, n), rng.integers(-nx, nx + 800, n), rng.integers(-ny, ny + 600, n)],
        axis=1,
    )
    return np.concatenate([np.array(special), random]).astype(np.float64)


def test_fast_placement_matches_the_pixel_loop() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (40, 70)).astype(np.float32)
    for x, y in [(1, 1), (70, 40), (-5, 3), (469, 339), (400, 300), (35, 20), (1000, 10), (2, 700)]:
        np.testing.assert_array_equal(place_fast(image, x, y), place_on_screen(image, x, y))


def test_pixel_lands_where_returnfixmovie_puts_it() -> None:
    """At full screen size the resize is the identity, so frames must be the placed screens exactly."""
    image = np.zeros((30, 50), dtype=np.uint8)
    image[9, 19] = 200  # pixel (x=20, y=10), 1-based
    image[-1, -1] = 100  # last row/column: must never wrap onto the screen's opposite side
    frame = compose_fixation_movie(image.T[None], np.array([[1, 20, 10]]), target_size=(600, 800))[0]
    assert frame[299, 399] == 200  # screen pixel (400, 300), 1-based
    assert frame[299 + 20, 399 + 30] == 100
    assert np.count_nonzero(frame) == 2


@pytest.mark.parametrize(
    ("image_shape", "size"),
    [((300, 400), (60, 80)), ((768, 1024), (60, 80)), ((700, 900), (30, 40)), ((90, 120), (120, 160))],
)
def test_matches_reference_at_every_edge(image_shape: tuple[int, int], size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    ny, nx = image_shape
    images = rng.integers(0, 256, (4, ny, nx), dtype=np.uint8)
    fixations = edge_fixations(rng, 20, 4, ny, nx)
    ours = compose_fixation_movie(images.transpose(0, 2, 1), fixations, target_size=size)
    expected = reference_movie(images, fixations, size)
    assert ours.shape == (len(fixations), *size)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=RTOL * np.abs(expected).max())
    blank = np.abs(expected).max(axis=(1, 2)) == 0
    assert blank.any() and (~blank).any(), "the cases must include off-screen and on-screen frames"
    assert np.all(ours[blank] == 0)


def test_uneven_target_size_uses_the_dense_path_and_matches() -> None:
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (3, 200, 260), dtype=np.uint8)
    fixations = edge_fixations(rng, 10, 3, 200, 260)[::7]
    composer = FixationComposer((45, 70))
    assert composer.dense
    ours = composer.compose(images.transpose(0, 2, 1), fixations)
    expected = reference_movie(images, fixations, (45, 70))
    np.testing.assert_allclose(ours, expected, rtol=0, atol=RTOL * np.abs(expected).max())


def test_groups_and_batches_do_not_change_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (9, 120, 150), dtype=np.uint8)
    fixations = edge_fixations(rng, 60, 9, 120, 150)
    whole = compose_fixation_movie(images.transpose(0, 2, 1), fixations)
    monkeypatch.setattr(compose_module, "_GROUP_BYTES", 1)  # one image per group
    monkeypatch.setattr(compose_module, "_BATCH_BYTES", 1)  # one frame per batch
    pieces = compose_fixation_movie(images.transpose(0, 2, 1), fixations)
    np.testing.assert_allclose(pieces, whole, rtol=0, atol=1e-3)


def test_reads_an_h5py_dataset_and_only_used_images(tmp_path) -> None:
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (12, 80, 100), dtype=np.uint8)
    with h5py.File(tmp_path / "images.h5", "w") as handle:
        handle.create_dataset("runningImages", data=images.transpose(0, 2, 1), chunks=(1, 100, 80))
    fixations = np.array([[2, 50, 40], [11, -20, 70], [2, 300, -100], [7, 60, 30]], dtype=float)
    with h5py.File(tmp_path / "images.h5", "r") as handle:
        ours = compose_fixation_movie(handle["runningImages"], fixations)
    np.testing.assert_allclose(ours, reference_movie(images, fixations, (60, 80)), rtol=0, atol=RTOL * 255)


def test_multi_image_chunks_are_read_once(tmp_path) -> None:
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (10, 60, 70), dtype=np.uint8)
    with h5py.File(tmp_path / "images.h5", "w") as handle:
        handle.create_dataset(
            "runningImages", data=images.transpose(0, 2, 1), chunks=(4, 35, 30), compression="gzip"
        )
    fixations = np.stack(
        [rng.permutation(np.repeat(np.arange(1, 11), 3)), *rng.integers(-50, 120, (2, 30))], 1
    )
    reads: list[object] = []

    class Counting:  # the dataset, recording every read
        def __init__(self, dataset: h5py.Dataset) -> None:
            self.dataset, self.shape, self.dtype, self.chunks = (
                dataset,
                dataset.shape,
                dataset.dtype,
                dataset.chunks,
            )

        def __getitem__(self, key: object) -> np.ndarray:
            reads.append(key)
            return self.dataset[key]

    with h5py.File(tmp_path / "images.h5", "r") as handle:
        ours = compose_fixation_movie(Counting(handle["runningImages"]), fixations.astype(float))
    np.testing.assert_allclose(ours, reference_movie(images, fixations, (60, 80)), rtol=0, atol=RTOL * 255)
    assert reads == [slice(0, 4), slice(4, 8), slice(8, 10)]


def test_resize_windows_reproduce_torch_operator() -> None:
    for n_in, n_out in [(600, 60), (800, 80), (800, 70), (600, 600)]:
        spec = axis_resize(n_in, n_out)
        rebuilt = np.zeros((n_out, n_in))
        for o in range(n_out):
            stop = min(n_in, spec.starts[o] + spec.length)
            rebuilt[o, spec.starts[o] : stop] = spec.weights[o, : stop - spec.starts[o]]
        np.testing.assert_allclose(rebuilt, resize_operator(n_in, n_out), atol=1e-15)
    assert len(axis_resize(600, 60).edge_index) == 2  # only the two border rows use their own kernels


def test_bad_fixations_give_clear_errors(caplog: pytest.LogCaptureFixture) -> None:
    images = np.zeros((3, 40, 30), dtype=np.uint8)
    with pytest.raises(ValueError, match="image index 4 at frame 1 is outside 1..3"):
        compose_fixation_movie(images, np.array([[1, 5, 5], [4, 5, 5]]))
    with pytest.raises(ValueError, match=r"expected \(frames, 3\)"):
        compose_fixation_movie(images, np.zeros((5, 2)))
    with caplog.at_level(logging.WARNING):
        compose_fixation_movie(images, np.array([[1, 5.4, 5.0]]))
    assert "not integers" in caplog.text


def test_device_argument_composes_on_that_device() -> None:
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (2, 90, 70), dtype=np.uint8)
    fixations = edge_fixations(rng, 5, 2, 70, 90)[::5]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ours = compose_fixation_movie(images, fixations, device=device)
    np.testing.assert_allclose(ours, compose_fixation_movie(images, fixations), rtol=0, atol=1e-3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("size", [(60, 80), (45, 70)])  # the windowed path and the dense per-frame path
def test_cuda_composition_matches_the_reference_at_every_edge(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(11)
    ny, nx = 300, 400
    images = rng.integers(0, 256, (4, ny, nx), dtype=np.uint8)
    fixations = edge_fixations(rng, 20, 4, ny, nx)
    ours = compose_fixation_movie(images.transpose(0, 2, 1), fixations, target_size=size, device="cuda")
    expected = reference_movie(images, fixations, size)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=RTOL * np.abs(expected).max())
