"""Small synthetic session files in exactly the published layout, with responses of a known LN model.

``write_sample(root)`` writes ``<root>/goldin_2022/{mouse,mouse_2,axolotl}.h5`` (the folder stands for the
Hugging Face folder ``marre_lab/goldin_2022``): 108x108 grayscale images, 1,600 train and 30 test per session,
made of 4-pixel checks whose gray levels have a 1/f^0.5 amplitude spectrum (natural images are 1/f; a milder
slope keeps the response-weighted image average close to the true filter). Each cell is a spatial
centre-surround filter, a softplus and Poisson counts over the 300-ms presentation
(:mod:`openretina_core.data`); the test images are repeated (30 trials in mouse, 20 in axolotl; ``mouse_2``
has no ``test/repeats``, which is optional) and ``test/response/binned`` is the mean of the trials. Stored
gzip-compressed, a few MB per file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from openretina_core.data import LNPModel, RunningMoments, make_lnp_model, simulate_responses
from openretina_core.registry import SyntheticSample
from openretina_goldin_2022.constants import (
    DEFAULT_RESPONSE_TYPE,
    DEFAULT_SPECIES,
    IMAGE_SHAPE,
    PIXEL_SIZE_UM,
    PUBLISHED_CELLS,
    PUBLISHED_TEST_IMAGES,
    PUBLISHED_TEST_REPEATS,
    TEST_REPEATS_GROUP,
    TEST_RESPONSE_GROUP,
    TEST_STIMULUS_KEY,
    TRAIN_RESPONSE_GROUP,
    TRAIN_STIMULUS_KEY,
)
from openretina_goldin_2022.layout import check_species

SAMPLE_DIR = "goldin_2022"
# name -> (species, cells, test repeats stored); cells and repeats as published, one extra mouse session.
SAMPLE_SESSIONS: dict[str, tuple[str, int, bool]] = {
    "mouse": ("mouse", PUBLISHED_CELLS["mouse"], True),
    "mouse_2": ("mouse", 36, False),
    "axolotl": ("axolotl", PUBLISHED_CELLS["axolotl"], True),
}
CHECK_PX = 4
SPECTRUM_SLOPE = 0.5
RF_SIGMA_UM = {"mouse": 112.0, "axolotl": 168.0}  # centre sigma on the retina (4 and 6 pixels of 28 µm)
# Expected counts per 300-ms presentation scale with the model's rate per bin: about 2.9 spikes (~10 Hz).
BINS_PER_PRESENTATION = 3
GRAY_LEVELS = 255


def natural_like_images(rng: np.random.Generator, n_images: int) -> np.ndarray:
    """``(N, 108, 108)`` float32 in [0, 1] (256 gray levels): checks with a 1/f^0.5 amplitude spectrum."""
    grid = IMAGE_SHAPE[0] // CHECK_PX, IMAGE_SHAPE[1] // CHECK_PX
    fy = np.fft.fftfreq(grid[0])[:, None]
    fx = np.fft.fftfreq(grid[1])[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    radius[0, 0] = 1.0 / max(grid)
    spectrum = rng.normal(size=(n_images, *grid)) + 1j * rng.normal(size=(n_images, *grid))
    field = np.fft.ifft2(spectrum / radius**SPECTRUM_SLOPE).real
    field = (field - field.mean(axis=(1, 2), keepdims=True)) / field.std(axis=(1, 2), keepdims=True)
    levels = (np.clip(np.round((field / 6 + 0.5) * GRAY_LEVELS), 0, GRAY_LEVELS) / GRAY_LEVELS).astype(
        np.float32
    )
    checks = np.broadcast_to(levels[:, :, None, :, None], (n_images, grid[0], CHECK_PX, grid[1], CHECK_PX))
    return checks.reshape(n_images, *IMAGE_SHAPE)  # one copy


def spatial_model(n_cells: int, species: str, seed: int) -> LNPModel:
    """Centre-surround spatial filters of unit norm, no temporal structure (one image, one count)."""
    sigma = RF_SIGMA_UM[species] / PIXEL_SIZE_UM
    base = make_lnp_model(n_cells, 1, *IMAGE_SHAPE, filter_length=3, seed=seed, rf_sigma=sigma)
    spatial = base.spatial / np.sqrt((base.spatial**2).sum(axis=(1, 2, 3), keepdims=True))
    return LNPModel(spatial=spatial.astype(np.float32), temporal=np.ones((n_cells, 1), dtype=np.float32))


def _as_stored(images: np.ndarray, dtype: str) -> np.ndarray:
    if np.dtype(dtype) == np.uint8:
        return np.round(images * GRAY_LEVELS).astype(np.uint8)
    return images.astype(dtype, copy=False)


def _zscored(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Train and test images z-scored as the loader does it (train statistics), concatenated."""
    moments = RunningMoments()
    moments.add(train)
    both = np.concatenate([train, test]).astype(np.float32)
    return (both - np.float32(moments.mean)) / np.float32(moments.std)


def _encoded(n_train: int, n_test: int, n_cells: int) -> tuple[np.ndarray, ...]:
    """Images that are their own index (train ``i + 1``, test ``-(j + 1)``, every pixel) and counts that
    say which image and cell they belong to (``1000 * (cell + 1) + index + 1``, test trials all equal)."""
    train = np.broadcast_to(
        np.arange(1, n_train + 1, dtype=np.float32)[:, None, None], (n_train, *IMAGE_SHAPE)
    )
    test = np.broadcast_to(-np.arange(1, n_test + 1, dtype=np.float32)[:, None, None], (n_test, *IMAGE_SHAPE))
    cells = 1000.0 * np.arange(1, n_cells + 1, dtype=np.float32)[:, None]
    return (
        np.ascontiguousarray(train),
        np.ascontiguousarray(test),
        cells + np.arange(1, n_train + 1, dtype=np.float32),
        cells + np.arange(1, n_test + 1, dtype=np.float32),
    )


def write_session_file(
    path: Path,
    species: str,
    n_cells: int,
    rng: np.random.Generator,
    *,
    n_train: int,
    n_test: int,
    n_repeats: int | None,
    stimulus_dtype: str,
    encode_index: bool,
    model_seed: int,
) -> LNPModel:
    """One session file in the published layout; returns the model behind its responses."""
    model = spatial_model(n_cells, species, model_seed)
    trials = n_repeats or PUBLISHED_TEST_REPEATS[species]
    if encode_index:
        train_stim, test_stim, train_counts, test_mean = _encoded(n_train, n_test, n_cells)
        repeats = np.broadcast_to(test_mean, (trials, *test_mean.shape)).astype(np.float32)
    else:
        train_stim = _as_stored(natural_like_images(rng, n_train), stimulus_dtype)
        test_stim = _as_stored(natural_like_images(rng, n_test), stimulus_dtype)
        both = _zscored(train_stim.astype(np.float32, copy=False), test_stim.astype(np.float32, copy=False))
        rate = simulate_responses(model, both[None], poisson=False) * BINS_PER_PRESENTATION  # (cells, N)
        train_counts = rng.poisson(rate[:, :n_train]).astype(np.float32)
        repeats = rng.poisson(rate[None, :, n_train:], size=(trials, n_cells, n_test)).astype(np.float32)
        test_mean = repeats.mean(axis=0)
    gzip = {"compression": "gzip", "compression_opts": 1}
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5.create_dataset(TRAIN_STIMULUS_KEY, data=train_stim, chunks=(64, *IMAGE_SHAPE), **gzip)
        h5.create_dataset(TEST_STIMULUS_KEY, data=test_stim, chunks=(n_test, *IMAGE_SHAPE), **gzip)
        h5.create_dataset(f"{TRAIN_RESPONSE_GROUP}/{DEFAULT_RESPONSE_TYPE}", data=train_counts, **gzip)
        h5.create_dataset(f"{TEST_RESPONSE_GROUP}/{DEFAULT_RESPONSE_TYPE}", data=test_mean, **gzip)
        if n_repeats != 0:
            for cell in range(n_cells):
                h5.create_dataset(f"{TEST_REPEATS_GROUP}/cell{cell}", data=repeats[:, cell], **gzip)
    return model


def write_sample(
    root: str | os.PathLike[str],
    seed: int = 0,
    *,
    species: str = DEFAULT_SPECIES,
    sessions: Mapping[str, tuple[str, int, bool]] | None = None,
    n_train: int = 1600,
    n_test: int = PUBLISHED_TEST_IMAGES,
    n_repeats: int | None = None,
    stimulus_dtype: str = "float32",
    encode_index: bool = False,
) -> SyntheticSample:
    """Write the synthetic dataset under ``root`` and return where it is and the true filters.

    ``sessions`` maps a session name to ``(species, cells, with repeats)`` (default :data:`SAMPLE_SESSIONS`);
    every session is written. ``species`` chooses which sessions the result describes: ``filters`` holds the
    true spatial filters ``(cells, 1, 1, 108, 108)`` of that species' sessions (in the z-scored image space
    the loaders return) and ``options`` the loader options that select them. ``n_repeats`` overrides the
    published trial counts (30 mouse, 20 axolotl). ``encode_index`` writes images and counts that encode
    their own index instead (see :func:`_encoded`; ``filters`` is then empty).
    """
    check_species(species)
    table = dict(SAMPLE_SESSIONS if sessions is None else sessions)
    data_dir = Path(root).expanduser() / SAMPLE_DIR
    filters = {}
    for index, (name, (session_species, n_cells, with_repeats)) in enumerate(sorted(table.items())):
        check_species(session_species)
        model = write_session_file(
            data_dir / f"{name}.h5",
            session_species,
            n_cells,
            np.random.default_rng([seed, index]),
            n_train=n_train,
            n_test=n_test,
            n_repeats=(n_repeats if with_repeats else 0),
            stimulus_dtype=stimulus_dtype,
            encode_index=encode_index,
            model_seed=seed * 1000 + index,
        )
        if session_species == species and not encode_index:
            filters[name] = model.filters
    options = {} if species == DEFAULT_SPECIES else {"species": species}
    return SyntheticSample(data_dir=data_dir, filters=filters, options=options)


__all__ = ["SAMPLE_SESSIONS", "natural_like_images", "write_sample"]
