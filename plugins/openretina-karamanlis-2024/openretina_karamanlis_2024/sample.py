"""Synthetic sessions in the real layout, with LN-model responses to the composed movies.

``write_sample(root)`` writes, under ``root/sessions/``:

* a mouse session folder (252-electrode array) with its ``*_fixationmovie_data.mat``;
* a mouse session delivered as ``<session>.zip`` (same images, running blocks in another order);
* a mouse session folder without the file (skipped with a logged reason);
* a marmoset session folder (60-electrode array).

Files are MATLAB v7.3 lookalikes (HDF5 with a 512-byte MATLAB header and ``MATLAB_class`` attributes), with
the real keys and axis orders. Images are smaller than the real 768x1024 (the screen stays 600x800), and
fixations push them across every screen edge. Responses come from ``openretina_core.data``'s LN model
applied to the z-scored 60x80 movie the loader returns, so a spike-triggered average recovers the filters.

Images are zero-mean contrast values stored as ``int8``: uncovered screen pixels are 0, so with such images
the image's presence adds no luminance signal of its own, which would otherwise bias a spike-triggered
average (the loader reads any numeric dtype; the published files' may differ).
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from openretina_core.registry import SyntheticSample
from openretina_karamanlis_2024.compose import FixationComposer
from openretina_karamanlis_2024.constants import (
    DEFAULT_TARGET_SIZE,
    KEY_FROZEN_BIN,
    KEY_FROZEN_FIXATIONS,
    KEY_FROZEN_IMAGES,
    KEY_RUNNING_BIN,
    KEY_RUNNING_FIXATIONS,
    KEY_RUNNING_IMAGES,
    SESSIONS_DIR,
)
from openretina_karamanlis_2024.movie_cache import movie_stats

MOUSE = "20201112_252MEA_mouse_left_half_dorsal"
MOUSE_ZIPPED = "20201203_252MEA_mouse_right_half_ventral"
MOUSE_WITHOUT_FILE = "20201120_252MEA_mouse_left_no_fixation_movie"
MARMOSET = "20220208_60MEA_marmoset_right_i1"
FILTER_LENGTH = 4
LN_GAIN = 5.0


def matlab_header(path: Path) -> None:
    """Write the 128-byte MATLAB 7.3 text header into the file's 512-byte userblock."""
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(0))
    text = f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {stamp} HDF5 schema 1.00 ."
    header = text.encode("ascii").ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as handle:
        handle.write(header)


def write_mat(path: Path, datasets: dict[str, np.ndarray]) -> None:
    """An HDF5 file laid out as MATLAB -v7.3 saves it (arrays given in h5py order)."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as handle:
        for key, array in datasets.items():
            dset = handle.create_dataset(key, data=array)
            matlab_class = array.dtype.name if array.dtype.kind in "iu" else "double"
            dset.attrs["MATLAB_class"] = np.bytes_(matlab_class)
    matlab_header(path)


def block_images(
    rng: np.random.Generator, n_images: int, shape: tuple[int, int], block: int = 10
) -> np.ndarray:
    """``(n, Ny, Nx)`` int8 zero-mean images of random ``block``-pixel squares: nearly white at 60x80."""
    ny, nx = shape
    coarse = rng.integers(-127, 128, size=(n_images, -(-ny // block), -(-nx // block)), dtype=np.int8)
    return np.repeat(np.repeat(coarse, block, axis=1), block, axis=2)[:, :ny, :nx]


def random_fixations(
    rng: np.random.Generator, n_frames: int, n_images: int, shape: tuple[int, int]
) -> np.ndarray:
    """``(n, 3)`` (image 1-based, x, y): positions that let the image cross every screen edge."""
    ny, nx = shape
    return np.stack(
        [
            rng.integers(1, n_images + 1, n_frames),
            rng.integers(-nx // 8, nx + nx // 8 + 1, n_frames),
            rng.integers(-ny // 8, ny + ny // 8 + 1, n_frames),
        ],
        axis=1,
    ).astype(np.float64)


def simulate_session(
    composer: FixationComposer,
    running_images: np.ndarray,
    frozen_images: np.ndarray,
    running: np.ndarray,
    frozen: np.ndarray,
    n_neurons: int,
    trials: int,
    seed: int,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The file's datasets (h5py order) and the LN filters ``(N, 1, K, H, W)`` behind the responses."""
    from openretina_core.data import make_lnp_model, simulate_responses

    height, width = composer.target_size
    blocks, frames = running.shape[:2]
    h5_running = running_images.transpose(0, 2, 1)  # (n, Nx, Ny): MATLAB (Ny, Nx, n) as h5py shows it
    h5_frozen = frozen_images.transpose(0, 2, 1)
    train = composer.compose(h5_running, running.reshape(-1, 3))
    test = composer.compose(h5_frozen, frozen)
    mean, std = movie_stats(train)
    train = (train - np.float32(mean)) / np.float32(std)
    test = (test - np.float32(mean)) / np.float32(std)
    model = attrs.evolve(
        make_lnp_model(n_neurons, 1, height, width, filter_length=FILTER_LENGTH, seed=seed), gain=LN_GAIN
    )
    counts = simulate_responses(model, train[None], seed=seed + 1)  # (N, T)
    repeats = np.stack([simulate_responses(model, test[None], seed=seed + 2 + t) for t in range(trials)])
    datasets = {
        KEY_RUNNING_IMAGES: np.ascontiguousarray(h5_running),
        KEY_FROZEN_IMAGES: np.ascontiguousarray(h5_frozen),
        KEY_RUNNING_FIXATIONS: running,
        KEY_FROZEN_FIXATIONS: frozen,
        KEY_RUNNING_BIN: counts.T.reshape(blocks, frames, n_neurons).astype(np.float64),
        KEY_FROZEN_BIN: repeats.transpose(0, 2, 1).astype(np.float64),
    }
    return datasets, model.filters


def write_sample(
    root: str | Path,
    seed: int = 0,
    *,
    n_neurons: int = 8,
    blocks: int = 6,
    frames_per_block: int = 800,
    frozen_frames: int = 300,
    trials: int = 4,
    image_shape: tuple[int, int] = (300, 400),
    n_images: int = 32,
) -> SyntheticSample:
    """Write the synthetic sessions under ``root/sessions`` and return the folder and the true filters."""
    root = Path(root)
    sessions = root / SESSIONS_DIR
    rng = np.random.default_rng(seed)
    composer = FixationComposer(DEFAULT_TARGET_SIZE)
    filters: dict[str, Any] = {}

    def fixations(n_img: int) -> tuple[np.ndarray, np.ndarray]:
        running = random_fixations(rng, blocks * frames_per_block, n_img, image_shape)
        return running.reshape(blocks, frames_per_block, 3), random_fixations(
            rng, frozen_frames, 8, image_shape
        )

    # Mouse: one folder, and one zip sharing the images with the blocks reordered (same movie statistics).
    running_images = block_images(rng, n_images, image_shape)
    frozen_images = block_images(rng, 8, image_shape)
    running, frozen = fixations(n_images)
    for index, (name, order) in enumerate(
        ((MOUSE, np.arange(blocks)), (MOUSE_ZIPPED, np.roll(np.arange(blocks), 1)))
    ):
        datasets, filters[name] = simulate_session(
            composer,
            running_images,
            frozen_images,
            running[order],
            frozen,
            n_neurons,
            trials,
            seed + 100 * index,
        )
        write_mat(sessions / name / f"{name}_fixationmovie_data.mat", datasets)
    _zip_folder(sessions / MOUSE_ZIPPED)
    (sessions / MOUSE_WITHOUT_FILE).mkdir(parents=True, exist_ok=True)
    (sessions / MOUSE_WITHOUT_FILE / "README.txt").write_text(
        "this session has no fixation-movie recording\n"
    )
    # Marmoset: its own images and fixations.
    running_images = block_images(rng, n_images, image_shape)
    frozen_images = block_images(rng, 8, image_shape)
    running, frozen = fixations(n_images)
    datasets, filters[MARMOSET] = simulate_session(
        composer, running_images, frozen_images, running, frozen, n_neurons, trials, seed + 300
    )
    write_mat(sessions / MARMOSET / f"{MARMOSET}_fixationmovie_data.mat", datasets)
    return SyntheticSample(data_dir=root, filters=filters, options={"species": "mouse"})


def _zip_folder(folder: Path) -> None:
    """Replace ``folder`` by ``folder.zip`` unpacking into ``<folder name>/`` (as the mirror's session zips do).

    The zip holds a ``<folder name>/`` entry, one per sub-folder, then the files below them, as ``zip -r`` or a
    file manager writes it. Without the folder entry a one-file session zip would have a single member, which
    openretina's ``unzip_and_cleanup`` extracts as a file instead of the session folder.
    """
    archive = folder.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.write(folder, f"{folder.name}/")
        for path in sorted(folder.rglob("*")):
            name = f"{folder.name}/{path.relative_to(folder).as_posix()}"
            zf.write(path, f"{name}/" if path.is_dir() else name)
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    folder.rmdir()
