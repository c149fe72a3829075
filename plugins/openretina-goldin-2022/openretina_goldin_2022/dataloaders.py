"""``get_goldin_dataloaders``: locate (or download) the session files, read them, build single-image loaders.

Every sample is one image: the core's movie loaders run with clips and chunks of one frame, so a split is an
index map into the session's image buffer (nothing is copied) and a batch is one gather. The validation set is
``num_val_images`` train images; the other train images are shuffled every epoch.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from openretina_core.data import (
    DataLoaders,
    check_index_list,
    check_store_dtype,
    multiple_movies_dataloaders,
)
from openretina_core.files import fetch_dataset, listed_info
from openretina_core.registry import UnknownOptionError, check_int, option_names
from openretina_core.store import store_enabled
from openretina_goldin_2022.card import INFO
from openretina_goldin_2022.constants import (
    DATASET_ID,
    DEFAULT_BATCH_SIZE,
    DEFAULT_FR_NORMALIZATION,
    DEFAULT_NUM_VAL_IMAGES,
    DEFAULT_RESPONSE_TYPE,
    DEFAULT_SEED,
    DEFAULT_SPECIES,
    DEFAULT_STIM_TYPE,
    HF_FOLDER_URL,
    IMAGES_PER_SAMPLE,
    PIXEL_SIZE_UM,
    PRESENTATION_S,
    SPECIES_NAMES,
)
from openretina_goldin_2022.layout import check_response_type, check_species, check_split, check_stim_type
from openretina_goldin_2022.prepared import prepared_sessions
from openretina_goldin_2022.responses import load_all_responses
from openretina_goldin_2022.stimuli import load_all_stimuli

logger = logging.getLogger(__name__)

# Arguments of the core builder that this function sets itself (or names differently: images, not clips).
_OWN_ARGUMENTS = {
    "neuron_data_dictionary",
    "movies_dictionary",
    "train_chunk_size",
    "clip_length",
    "batch_size",
    "seed",
    "num_val_clips",
    "val_clip_indices",
    "split",
}
LOADER_OPTIONS = tuple(
    name for name in inspect.signature(multiple_movies_dataloaders).parameters if name not in _OWN_ARGUMENTS
)


def resolve_data_root(data_dir: str | os.PathLike[str] | None, download: bool, species: str) -> Path:
    """The folder holding the session files: ``data_dir`` as given, else the cache (fetched if asked)."""
    if data_dir is not None:
        return fetch_dataset(INFO, data_dir=Path(data_dir), download=download)
    # The mirror's folder listing (cached; fetched once when downloading without one), else the names known
    # here, which are unverified guesses (see mirror.py).
    info = listed_info(INFO, "auto" if download else "cache")
    try:
        return fetch_dataset(info, download=download, groups=[species])
    except ConnectionError as exc:  # the core's DownloadError: every URL failed
        raise ConnectionError(
            f"{exc}\nWithout the Hugging Face folder's listing ({HF_FOLDER_URL}) this plugin falls back to "
            f"file names it has not verified. Download the folder yourself (e.g. `huggingface-cli download "
            f"open-retina/open-retina --repo-type dataset --include 'marre_lab/goldin_2022/*'`) and pass "
            f"data_dir= the folder holding the .h5 files."
        ) from exc


def get_goldin_dataloaders(
    batch_size: int = DEFAULT_BATCH_SIZE,
    download: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    species: str = DEFAULT_SPECIES,
    response_type: str = DEFAULT_RESPONSE_TYPE,
    num_val_images: int = DEFAULT_NUM_VAL_IMAGES,
    seed: int = DEFAULT_SEED,
    *,
    split: str = "seeded",
    val_image_indices: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
    fr_normalization: float = DEFAULT_FR_NORMALIZATION,
    normalize_stimuli: bool = True,
    sessions: Iterable[str] | None = None,
    check_repeats: bool = True,
    stim_type: str = DEFAULT_STIM_TYPE,
    prepared: bool | None = None,
    store_dtype: str = "published",
    **loader_options: Any,
) -> DataLoaders:
    """Train/validation/test loaders of the Goldin et al. 2022 ``species`` sessions, one image per sample.

    ``data_dir`` is the folder holding the session files (``*<species>*.h5``); without it the dataset's cache
    folder is used and ``download=True`` fetches the species' files from the Hugging Face mirror. Batches:
    inputs ``(B, 1, 1, H, W)``, targets ``(B, 1, cells)`` in spikes per second (counts / ``fr_normalization``).
    ``num_val_images`` train images of each session form the validation set: drawn with ``seed`` and sorted
    (``split="seeded"``), or exactly as openretina 1.1.1 draws them (``split="openretina"``), or given by
    ``val_image_indices`` (a list, or one per session). The other train images are shuffled every epoch. The
    test images are one sample each under ``"test"``, with their single trials in
    ``loaders["test"][session].dataset.test_responses_by_trial`` ``(repeats, cells, N_img_test)``. Further
    keyword options go to :func:`openretina_core.data.multiple_movies_dataloaders` (``nan_policy``,
    ``num_workers``, ``pin_memory``, ``distributed``, ``allow_over_boundaries``: default False here).
    ``prepared`` (default: on unless ``OPENRETINA_NO_STORE=1``): each session is read once into the core's
    prepared store and memory-mapped from there on later loads. ``store_dtype``: ``"published"`` keeps images
    published as uint8/int8/float16 in that dtype in the store (decoded to the same float32 values per
    batch); ``"float32"`` stores float32.
    """
    check_species(species)
    check_stim_type(stim_type)
    check_response_type(response_type)
    check_split(split)
    check_store_dtype(store_dtype)
    check_int("seed", seed, 0)  # named as the user typed them, not as the core builder calls them
    check_int("num_val_images", num_val_images, 0)
    check_index_list("val_image_indices", val_image_indices)
    unknown = sorted(set(loader_options) - set(LOADER_OPTIONS))
    if unknown:  # a misspelt option: named, with the close matches (also a TypeError)
        raise UnknownOptionError(DATASET_ID, unknown[0], option_names(get_goldin_dataloaders, LOADER_OPTIONS))
    root = resolve_data_root(data_dir, download, species)
    if store_enabled(prepared):
        movies, responses = prepared_sessions(
            root,
            species=species,
            response_type=response_type,
            stim_type=stim_type,
            fr_normalization=fr_normalization,
            normalize_stimuli=normalize_stimuli,
            sessions=sessions,
            check_repeats=check_repeats,
            store_dtype=store_dtype,
        )
    else:
        # Responses first: they are small, and their checks (keys, counts, repeats) fail before the images
        # are read.
        responses = load_all_responses(
            root,
            response_type=response_type,
            stim_type=stim_type,
            species=species,
            fr_normalization=fr_normalization,
            sessions=sessions,
            check_repeats=check_repeats,
        )
        movies = load_all_stimuli(
            root,
            stim_type=stim_type,
            species=species,
            normalize_stimuli=normalize_stimuli,
            sessions=list(responses),
        )
    loaders = multiple_movies_dataloaders(
        responses,
        movies,
        train_chunk_size=IMAGES_PER_SAMPLE,
        batch_size=batch_size,
        seed=seed,
        clip_length=IMAGES_PER_SAMPLE,
        num_val_clips=num_val_images,
        val_clip_indices=val_image_indices,
        split=split,
        # Test images one sample each, as openretina 1.1.1 configures it (True: all test images in one sample).
        allow_over_boundaries=loader_options.pop("allow_over_boundaries", False),
        **loader_options,
    )
    loaders.data_info.update(
        {
            "dataset": DATASET_ID,
            "species": species,
            "animal_species": SPECIES_NAMES[species],
            "stim_type": stim_type,
            "stimulus_class": stim_type,
            "response_type": response_type,
            "fr_normalization": float(fr_normalization),
            "response_unit": "spikes/s"
            if fr_normalization == PRESENTATION_S
            else "counts / fr_normalization",
            "stimulus_rate_hz": None,  # images, not movies
            "response_rate_hz": None,  # one count per 300-ms presentation
            "retina_pixel_size_um": PIXEL_SIZE_UM,
            "split": split,
            "val_image_indices": loaders.data_info.get("val_clip_indices", {}),
            "n_repeats": {s: r.session_kwargs["n_repeats"] for s, r in responses.items()},
            "source_files": {s: r.session_kwargs["source_file"] for s, r in responses.items()},
        }
    )
    return loaders


def registry_get_dataloaders(
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **options: Any,
) -> DataLoaders:
    """What ``openretina_core.get_dataloaders("goldin_2022", ...)`` calls."""
    return get_goldin_dataloaders(batch_size=batch_size, download=download, data_dir=data_dir, **options)
