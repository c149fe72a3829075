"""Natural-movie rendering against a slow, obviously correct per-frame reference (datasets.md §5), and the
errors for fixation lines the images cannot satisfy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from openretina_sridhar_2025 import render as render_module
from openretina_sridhar_2025.fixations import Fixations, read_fixations, trial_lines
from openretina_sridhar_2025.render import FramePlan, Geometry, ImageBank, image_files, render_frames
from openretina_sridhar_2025.sample import write_fixation_file, write_images

NX, NY = 350, 300


def reference_frame(image: np.ndarray, cx: int, cy: int, flag: int, geometry: Geometry) -> np.ndarray:
    """One frame, step by step as the format describes it, in float64."""
    x = cx + 50  # 1. add the padding to both centres
    y = cy + 50
    crop = (
        image[x - 100 : x + 100, y - 75 : y + 75].astype(np.float64) / 255.0
    )  # 2. (200, 150) = (img_w, img_h)
    assert crop.shape == (200, 150)
    mirror = flag == 0
    if geometry.flip_imgs:
        mirror = not mirror
    if mirror:  # 3. mirror the second axis
        crop = crop[:, ::-1]
    frame = crop.T  # 4. (150, 200) = (h, w)
    top, bottom, left, right = geometry.retina_crop  # 5. retina crop, then the stride
    return frame[top : 150 - bottom : geometry.subsample, left : 200 - right : geometry.subsample]


def edge_fixations(rng: np.random.Generator, n_images: int, n_random: int = 60) -> dict[str, np.ndarray]:
    """Every extreme centre (each crop edge touching each image edge) in both flag states, plus random ones."""
    xs, ys, flags = [50, 200, 50, 200, 125], [25, 25, 175, 175, 100], [0, 1]
    grid = [(x, y, f) for x, y in zip(xs, ys) for f in flags] + [
        (50, 100, 0),
        (200, 100, 1),
        (125, 25, 1),
        (125, 175, 0),
    ]
    cx = np.array([g[0] for g in grid] + list(rng.integers(50, 201, n_random)))
    cy = np.array([g[1] for g in grid] + list(rng.integers(25, 176, n_random)))
    flag = np.array([g[2] for g in grid] + list(rng.integers(0, 2, n_random)))
    image = rng.integers(0, n_images, len(cx))
    return {"image": image, "center_x": cx, "center_y": cy, "flag": flag}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], np.ndarray]:
    rng = np.random.default_rng(1)
    stack = rng.integers(0, 256, size=(7, NX, NY), dtype=np.uint8)
    return write_images(tmp_path_factory.mktemp("images"), stack), stack


GEOMETRIES = [
    Geometry(),
    Geometry(flip_imgs=True),
    Geometry(subsample=2),
    Geometry(subsample=3, flip_imgs=True),
    Geometry(retina_crop=(0, 0, 0, 0)),
    Geometry(retina_crop=(10, 3, 0, 47), subsample=4),
]


@pytest.mark.parametrize(
    "geometry", GEOMETRIES, ids=lambda g: f"s{g.subsample}-flip{int(g.flip_imgs)}-{g.retina_crop}"
)
def test_frames_match_the_reference(images, geometry: Geometry, tmp_path: Path) -> None:
    paths, stack = images
    fix = edge_fixations(np.random.default_rng(2), len(paths))
    fixations = Fixations(tmp_path / "f.txt", **fix)
    lines = np.arange(len(fixations))
    height, width = geometry.output_shape
    out = np.full((len(lines), height, width), np.nan, dtype=np.float32)
    render_frames(ImageBank(paths, (NX, NY)), fixations, lines, geometry, out)
    for f in lines:
        expected = reference_frame(
            stack[fix["image"][f]], fix["center_x"][f], fix["center_y"][f], fix["flag"][f], geometry
        )
        # Bit for bit: float32 division of a uint8 value by 255 is the float64 quotient rounded to float32.
        np.testing.assert_array_equal(out[f], expected.astype(np.float32), err_msg=f"frame {f}")
    if geometry == Geometry():
        assert out.shape[1:] == (80, 90)


def test_blocks_and_image_cache_bounds_do_not_change_frames(images, tmp_path: Path, monkeypatch) -> None:
    """Tiny blocks (a few frames, at most two images each) and a one-image cache give the same frames."""
    paths, _ = images
    fixations = Fixations(tmp_path / "f.txt", **edge_fixations(np.random.default_rng(3), len(paths), 200))
    lines = np.arange(len(fixations))[::-1].copy()  # any order of lines
    geometry = Geometry()
    expected = np.empty((len(lines), 80, 90), np.float32)
    render_frames(ImageBank(paths, (NX, NY)), fixations, lines, geometry, expected)
    monkeypatch.setattr(render_module, "_BLOCK_BYTES", 5 * 4 * 80 * 90)
    monkeypatch.setattr(render_module, "_MAX_BLOCK_IMAGES", 2)
    bank = ImageBank(paths, (NX, NY), cache_bytes=1)
    got = np.empty_like(expected)
    render_frames(bank, fixations, lines, geometry, got)
    np.testing.assert_array_equal(got, expected)
    assert bank.reads > len(paths), "a one-image cache re-reads images"


def test_float_images_and_the_line_file_round_trip(tmp_path: Path) -> None:
    """Images of any numeric dtype are divided by 255; the text file parses to the same fixations."""
    rng = np.random.default_rng(4)
    stack = rng.uniform(0, 255, size=(3, NX, NY)).astype(np.float64)
    paths = write_images(tmp_path / "img", stack)
    fix = edge_fixations(rng, 3, 10)
    write_fixation_file(tmp_path / "fix.txt", **fix)
    fixations = read_fixations(tmp_path / "fix.txt")
    for key in ("image", "center_x", "center_y", "flag"):
        np.testing.assert_array_equal(getattr(fixations, key), fix[key])
    out = np.empty((len(fixations), 80, 90), np.float32)
    render_frames(ImageBank(paths, (NX, NY)), fixations, np.arange(len(fixations)), Geometry(), out)
    for f in range(len(fixations)):
        ref = reference_frame(
            stack[fix["image"][f]], fix["center_x"][f], fix["center_y"][f], fix["flag"][f], Geometry()
        )
        np.testing.assert_allclose(out[f], ref, rtol=1e-6)


def test_uint8_frames_are_the_image_values(images, tmp_path: Path) -> None:
    """The compact store's frames: the same windows as uint8 image values (float32 frames * 255 exactly)."""
    paths, _ = images
    fixations = Fixations(tmp_path / "f.txt", **edge_fixations(np.random.default_rng(6), len(paths), 300))
    lines = np.arange(len(fixations))
    for geometry in GEOMETRIES:
        plan = FramePlan(ImageBank(paths, (NX, NY)), fixations, lines, geometry)
        floats = plan.render(0, len(lines), np.empty((len(lines), *geometry.output_shape), np.float32))
        raw = plan.render(0, len(lines), np.empty((len(lines), 1, *geometry.output_shape), np.uint8))
        np.testing.assert_array_equal(raw[:, 0].astype(np.float32) / np.float32(255), floats)
        part = plan.render(40, 90, np.empty((50, *geometry.output_shape), np.uint8))
        np.testing.assert_array_equal(part, raw[40:90, 0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_rendering_on_the_gpu_matches_the_cpu(images, tmp_path: Path) -> None:
    paths, _ = images
    fixations = Fixations(tmp_path / "f.txt", **edge_fixations(np.random.default_rng(5), len(paths), 500))
    lines = np.arange(len(fixations))
    cpu = np.empty((len(lines), 80, 90), np.float32)
    gpu = np.empty_like(cpu)
    render_frames(ImageBank(paths, (NX, NY)), fixations, lines, Geometry(), cpu)
    render_frames(ImageBank(paths, (NX, NY)), fixations, lines, Geometry(), gpu, device=torch.device("cuda"))
    np.testing.assert_array_equal(cpu, gpu)


# -- bad input -------------------------------------------------------------------------------------------------
def _one_line(tmp_path: Path, image: int, cx: int, cy: int, flag: int = 1) -> Fixations:
    path = tmp_path / "complete_fixations.txt"
    write_fixation_file(
        path, np.array([0, image]), np.array([100, cx]), np.array([100, cy]), np.array([1, flag])
    )
    return read_fixations(path)


@pytest.mark.parametrize(
    ("image", "cx", "cy", "message"),
    [
        (7, 100, 100, r"line 2: image index 7 is outside the image list \(0\.\.6: 7"),
        (-1, 100, 100, r"line 2: image index -1 is outside the image list"),
        (
            0,
            49,
            100,
            r"line 2: centre \(49, 100\) puts the 200 x 150 crop outside the padded 350 x 300 image; centres must lie in x 50\.\.200, y 25\.\.175",
        ),
        (0, 201, 100, r"centre \(201, 100\)"),
        (0, 100, 24, r"centre \(100, 24\)"),
        (0, 100, 176, r"centre \(100, 176\)"),
    ],
)
def test_fixations_outside_the_images_name_the_file_and_line(
    images, tmp_path, image, cx, cy, message
) -> None:
    paths, _ = images
    fixations = _one_line(tmp_path, image, cx, cy)
    out = np.empty((2, 80, 90), np.float32)
    with pytest.raises(ValueError, match=message) as excinfo:
        render_frames(ImageBank(paths, (NX, NY)), fixations, np.arange(2), Geometry(), out)
    assert "complete_fixations.txt" in str(excinfo.value)


def test_malformed_lines_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "fix.txt"
    path.write_text("3.0 0 1 100 100 1\n3.0 0 1 100\n")
    with pytest.raises(ValueError, match=r"fix\.txt, line 2: .*4 columns, expected at least 6"):
        read_fixations(path)
    path.write_text("3.0 0 1 100 100 1\nx 0 1 100 100 1\n")
    with pytest.raises(ValueError, match=r"line 2: cannot read a fixation"):
        read_fixations(path)
    path.write_text("3.0 0 1 100 100 7\n")
    with pytest.raises(ValueError, match=r"line 1: .*flip flag '7' does not start with 0 or 1"):
        read_fixations(path)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_fixations(tmp_path / "missing.txt")


def test_the_flag_is_the_last_columns_first_character(tmp_path: Path) -> None:
    path = tmp_path / "fix.txt"
    path.write_text("2.0 9 9 60 70 8 8 0.0\n1.7 9 9 61 71 1\r\n")
    fixations = read_fixations(path)
    assert fixations.image.tolist() == [2, 1] and fixations.flag.tolist() == [0, 1]
    assert fixations.center_x.tolist() == [60, 61] and fixations.center_y.tolist() == [70, 71]


def test_trial_count_must_match_the_fixations(tmp_path: Path) -> None:
    fixations = _one_line(tmp_path, 0, 100, 100)
    test, train = trial_lines(fixations.select(np.zeros(25, dtype=np.int64)), [0, 2], 5, 10, 3)
    assert test.tolist() == list(range(10)) and train.tolist() == [10, 11, 12, 13, 14, 20, 21, 22, 23, 24]
    with pytest.raises(
        ValueError,
        match=r"25 fixation lines, but the responses need 30 \(10 test frames \+ 4 trials x 5 frames per trial\)",
    ):
        trial_lines(fixations.select(np.zeros(25, dtype=np.int64)), [0], 5, 10, 4)


def test_image_files_are_sorted_and_checked(tmp_path: Path) -> None:
    folder = tmp_path / "stimuli_padded_4"
    folder.mkdir()
    for name in ("b_img_2.npy", "a_img_10.npy", "notes.txt", "c_image.npy"):
        np.save(folder / name, np.zeros((NX, NY), np.uint8)) if name.endswith(".npy") else (
            folder / name
        ).write_text("")
    assert [p.name for p in image_files(folder, "_img_")] == ["a_img_10.npy", "b_img_2.npy"]
    np.save(folder / "a_img_10.npy", np.zeros((NY, NX), np.uint8))
    with pytest.raises(
        ValueError, match=r"a_img_10\.npy: image of shape \(300, 350\).*expected a numeric \(350, 300\)"
    ):
        ImageBank(image_files(folder, "_img_"), (NX, NY)).image(0)
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        image_files(tmp_path / "no_such_folder", "_img_")
