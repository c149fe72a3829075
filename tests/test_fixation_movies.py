"""The shared fixation-movie pieces against slow, obviously correct loops: windows placed by their origins
(zero outside the image, every step), grids of positions, the block and group planners, and frames streamed
into a prepared entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from openretina_core.data import StreamedFrames, grid_frames, image_blocks, image_groups, window_frames
from openretina_core.registry.errors import BadArgumentError, BadDataError


def reference_window(image: np.ndarray, row: int, col: int, shape: tuple[int, int], step: tuple[int, int]):
    """Pixel by pixel: the image where the window covers it, 0 elsewhere."""
    out = np.zeros(shape, dtype=image.dtype)
    for i in range(shape[0]):
        for j in range(shape[1]):
            y, x = row + i * step[0], col + j * step[1]
            if 0 <= y < image.shape[0] and 0 <= x < image.shape[1]:
                out[i, j] = image[y, x]
    return out


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("step", [(1, 1), (2, 3)])
def test_windows_match_the_pixel_loop_inside_across_and_off_the_image(dtype, step) -> None:
    rng = np.random.default_rng(0)
    stack = torch.from_numpy(rng.integers(1, 256, (5, 23, 31)).astype(np.uint8)).to(dtype)
    shape = (7, 9)
    rows = np.array([0, 23 - 7 * step[0], -3, 20, -100, 500, 5, -6, *rng.integers(-30, 40, 40)])
    cols = np.array([0, 31 - 9 * step[1], 25, -4, 3, -200, 800, 30, *rng.integers(-40, 50, 40)])
    slots = rng.integers(0, 5, len(rows))
    frames = window_frames(stack, slots, rows, cols, shape, step)
    assert frames.dtype == dtype and frames.shape == (len(rows), *shape)
    images = stack.numpy()
    for b in range(len(rows)):
        expected = reference_window(images[slots[b]], int(rows[b]), int(cols[b]), shape, step)
        np.testing.assert_array_equal(frames[b].numpy(), expected, err_msg=f"frame {b}")
    assert (frames[4] == 0).all() and (frames[5] == 0).all(), "windows off the image are zero"


@settings(max_examples=40, deadline=None)
@given(
    origin=st.tuples(st.integers(-15, 25), st.integers(-15, 25)),
    shape=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    step=st.tuples(st.integers(1, 3), st.integers(1, 3)),
)
def test_any_window_is_the_pixel_loop(origin, shape, step) -> None:
    image = np.arange(1, 17 * 13 + 1, dtype=np.float32).reshape(17, 13)
    frame = window_frames(torch.from_numpy(image)[None], [0], [origin[0]], [origin[1]], shape, step)[0]
    np.testing.assert_array_equal(frame.numpy(), reference_window(image, *origin, shape, step))


def test_window_arguments_are_checked() -> None:
    stack = torch.zeros((2, 10, 10))
    with pytest.raises(BadDataError, match="slots 0..2 outside 0..1"):
        window_frames(stack, [0, 2], [0, 0], [0, 0], (3, 3))
    with pytest.raises(BadArgumentError, match="positive"):
        window_frames(stack, [0], [0], [0], (0, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_windows_on_the_gpu_equal_the_cpu() -> None:
    rng = np.random.default_rng(1)
    stack = torch.from_numpy(rng.integers(0, 256, (4, 40, 50), dtype=np.uint8))
    rows, cols, slots = rng.integers(-10, 40, 300), rng.integers(-10, 50, 300), rng.integers(0, 4, 300)
    cpu = window_frames(stack, slots, rows, cols, (12, 15), (2, 1))
    gpu = window_frames(stack.cuda(), slots, rows, cols, (12, 15), (2, 1))
    np.testing.assert_array_equal(gpu.cpu().numpy(), cpu.numpy())


def test_grid_frames_is_the_outer_sum_gather() -> None:
    rng = np.random.default_rng(2)
    flat = torch.from_numpy(rng.standard_normal(500).astype(np.float32))
    rows = torch.from_numpy(rng.integers(0, 250, (6, 4)))
    cols = torch.from_numpy(rng.integers(0, 250, (6, 5)))
    out = grid_frames(flat, rows, cols)
    for b in range(6):
        for i in range(4):
            for j in range(5):
                assert out[b, i, j] == flat[rows[b, i] + cols[b, j]]
    with pytest.raises(BadArgumentError, match="index vectors"):
        grid_frames(flat, rows, cols[:3])


@settings(max_examples=60, deadline=None)
@given(
    images=st.lists(st.integers(0, 12), min_size=0, max_size=900),
    max_frames=st.integers(1, 400),
    max_images=st.integers(1, 5),
)
def test_blocks_cover_the_frames_in_order_within_both_bounds(images, max_frames, max_images) -> None:
    image = np.array(images, dtype=np.int64)
    blocks = image_blocks(image, max_frames, max_images)
    assert [b[0] for b in blocks] == ([0] + [b[1] for b in blocks[:-1]] if blocks else [])
    assert (blocks[-1][1] if blocks else 0) == len(image)
    for start, stop in blocks:
        assert 0 < stop - start <= max_frames
        assert stop - start == 1 or len(set(image[start:stop].tolist())) <= max_images


@settings(max_examples=60, deadline=None)
@given(images=st.lists(st.integers(0, 20), min_size=0, max_size=300), max_images=st.integers(1, 6))
def test_groups_hold_every_frame_once_by_image(images, max_images) -> None:
    image = np.array(images, dtype=np.int64)
    seen = []
    previous = -1
    for ids, frames, local in image_groups(image, max_images):
        assert 1 <= len(ids) <= max_images and ids[0] > previous and (np.diff(ids) > 0).all()
        previous = ids[-1]
        np.testing.assert_array_equal(ids[local], image[frames])
        assert (np.diff(image[frames]) >= 0).all(), "by image, then time"
        seen.extend(frames.tolist())
    assert sorted(seen) == list(range(len(image)))


def _numbered(start: int, stop: int, out: np.ndarray) -> None:
    out[:] = np.arange(start, stop, dtype=np.float64)[:, None, None] * 10 + np.arange(6).reshape(1, 2, 3)


@pytest.mark.parametrize("prefetch", [True, False])
def test_streamed_frames_are_rendered_when_read_in_any_order(prefetch) -> None:
    calls: list[tuple[int, int]] = []

    def render(start: int, stop: int, out: np.ndarray) -> None:
        calls.append((start, stop))
        _numbered(start, stop, out)

    stream = StreamedFrames((50, 2, 3), np.float32, render, prefetch=prefetch)
    whole = np.empty((50, 2, 3), np.float32)
    _numbered(0, 50, whole)
    for key in (slice(0, 16), slice(16, 32), slice(32, 48), slice(48, 64), slice(5, 9), slice(40, 50)):
        np.testing.assert_array_equal(stream[key], whole[key])
    stream.close()
    assert len(calls) >= 6 and all(0 <= a <= b <= 50 for a, b in calls)
    with pytest.raises(BadArgumentError, match="consecutive rows"):
        stream[::2]
    with pytest.raises(BadArgumentError, match="a slice of rows"):
        stream[3]
    assert stream.read_all(np.empty_like(whole), 7).tolist() == whole.tolist()


def test_streamed_frames_go_into_a_prepared_entry_through_the_file(tmp_path: Path) -> None:
    from openretina_core.store import prepare_entry

    stream = StreamedFrames((20000, 2, 3), np.float32, _numbered)
    entry = prepare_entry(
        "toy",
        "s",
        params={"p": 1},
        sources=[],
        build=lambda writer: writer.put("movie", stream),
        dataset_root=tmp_path,
    )
    expected = np.empty((20000, 2, 3), np.float32)
    _numbered(0, 20000, expected)
    np.testing.assert_array_equal(entry["movie"], expected)
