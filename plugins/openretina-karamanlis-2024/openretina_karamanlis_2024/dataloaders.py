"""``get_karamanlis_dataloaders``: find (or download) the sessions, load stimuli and responses, build loaders."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from openretina_karamanlis_2024.constants import (
    DEFAULT_TARGET_SIZE,
    FRAME_RATE_HZ,
    RETINA_PIXEL_SIZE_UM,
)
from openretina_karamanlis_2024.layout import (
    check_species,
    check_stim_type,
    default_extract_root,
    find_session_files,
)
from openretina_karamanlis_2024.movie_cache import dataset_cache


def data_root(data_dir: str | os.PathLike[str] | None, download: bool, species: str) -> Path:
    """``data_dir`` as given, or the cached copy of every published ``species`` session (downloaded when
    ``download``). The sessions are the mirror's listing (cached; fetched once when downloading without one),
    else the known names: see ``sessions.py``."""
    from openretina_core.files import fetch_dataset, listed_info
    from openretina_karamanlis_2024.card import INFO

    if data_dir is not None:
        return Path(fetch_dataset(INFO, data_dir=Path(data_dir)))
    info = listed_info(INFO, "auto" if download else "cache")
    return Path(fetch_dataset(info, download=download, groups=[species]))


def get_karamanlis_dataloaders(
    batch_size: int = 32,
    download: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
    species: str = "mouse",
    stim_type: str = "fixationmovie",
    train_chunk_size: int = 50,
    clip_length: int = 75,
    num_val_clips: int = 20,
    seed: int = 42,
    target_size: Sequence[int] = DEFAULT_TARGET_SIZE,
    normalize_stimuli: bool = True,
    fr_normalization: float = 1.0,
    compose_device: str | torch.device | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    device: str | torch.device | None = None,
    **loader_options: Any,
) -> Any:
    """Train/validation/test loaders of every ``species`` session (batches ``(B, 1, T, H, W)``, ``(B, T, N)``).

    ``data_dir`` is the folder holding ``sessions/``; without it the files are taken from the openretina cache
    and fetched when ``download`` is true. The frozen sequence is the ``"test"`` split (one chunk of the whole
    sequence). ``compose_device`` composes the fixation movies on that device; ``device`` delivers batches
    there. Other keyword arguments go to ``openretina_core.multiple_movies_dataloaders`` (e.g.
    ``allow_over_boundaries``, ``nan_policy``, ``num_workers``).
    """
    from openretina_core.data import multiple_movies_dataloaders
    from openretina_karamanlis_2024.responses import responses_for_files
    from openretina_karamanlis_2024.stimuli import stimuli_for_files

    check_species(species)
    check_stim_type(stim_type)
    root = data_root(data_dir, download, species)
    cache = dataset_cache(cache_dir)
    files = find_session_files(root, species, stim_type, default_extract_root(cache))
    responses = responses_for_files(files, stim_type, fr_normalization)
    movies = stimuli_for_files(
        files,
        stim_type,
        target_size=target_size,
        normalize_stimuli=normalize_stimuli,
        device=compose_device,
        cache=cache,
        use_cache=use_cache,
    )
    loaders = multiple_movies_dataloaders(
        responses,
        movies,
        train_chunk_size=train_chunk_size,
        batch_size=batch_size,
        seed=seed,
        clip_length=clip_length,
        num_val_clips=num_val_clips,
        **loader_options,
    )
    loaders.data_info.update(
        {
            "response_rate_hz": FRAME_RATE_HZ[species],
            "stimulus_rate_hz": FRAME_RATE_HZ[species],
            "retina_pixel_size_um": RETINA_PIXEL_SIZE_UM,
            "animal_species": species,
            "stimulus_class": stim_type,
        }
    )
    if device is not None:
        from openretina_core.data import to_device

        return to_device(loaders, device)
    return loaders


def spec_get_dataloaders(
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    batch_size: int = 32,
    **options: Any,
) -> Any:
    """The registry's entry point: ``get_dataloaders("karamanlis_2024", ...)`` (loaders on the CPU)."""
    return get_karamanlis_dataloaders(batch_size=batch_size, download=download, data_dir=data_dir, **options)
