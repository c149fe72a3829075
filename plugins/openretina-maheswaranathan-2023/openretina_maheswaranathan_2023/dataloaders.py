"""``get_maheswaranathan_dataloaders``: locate (or download) the files, read them, build the loaders."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from openretina_core import BadDataError
from openretina_core.data import (
    DataLoaders,
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    check_store_dtype,
    multiple_movies_dataloaders,
)
from openretina_core.files import fetch_dataset
from openretina_core.registry import UnknownOptionError, option_names
from openretina_core.store import EntryWriter, prepare_entry, read_session, store_enabled, write_session
from openretina_maheswaranathan_2023.constants import (
    ARCHIVE_DIR,
    DEFAULT_RESPONSE_TYPE,
    DEFAULT_STIM_TYPE,
    FRAME_RATE_HZ,
    INFO,
    PIXEL_SIZE_UM,
    SPECIES,
)
from openretina_maheswaranathan_2023.in_place import InPlaceMovies, load_movies, map_in_place, scan_in_place
from openretina_maheswaranathan_2023.layout import (
    check_response_type,
    check_stim_type,
    find_session_files,
    ganglion_cell_dir,
)
from openretina_maheswaranathan_2023.responses import load_all_responses, load_responses_for_session
from openretina_maheswaranathan_2023.stimuli import (  # load_all_stimuli: kept importable from here
    load_all_stimuli,  # noqa: F401
    load_stimuli_for_session,
)

logger = logging.getLogger(__name__)

# 2: narrow published stimuli stored compact; 3: contiguous stimuli mapped in place from the HDF5 file.
# Bump when what the readers return changes: older prepared entries are then never served.
STORE_VERSION = 3
IN_PLACE_KEY = "in_place"  # the entry's record of movies mapped from the HDF5 file

_OWN_ARGUMENTS = {"neuron_data_dictionary", "movies_dictionary", "train_chunk_size", "batch_size", "seed"}
LOADER_OPTIONS = tuple(
    name for name in inspect.signature(multiple_movies_dataloaders).parameters if name not in _OWN_ARGUMENTS
)


def resolve_data_root(data_dir: str | os.PathLike[str] | None, download: bool) -> Path:
    """The folder holding ``ganglion_cell_data/``: ``data_dir`` as given, else the cache, fetched if asked."""
    if data_dir is not None:
        root = fetch_dataset(INFO, data_dir=Path(data_dir), download=download)
    else:
        root = fetch_dataset(INFO, download=download) / ARCHIVE_DIR
    return ganglion_cell_dir(root).parent


def get_maheswaranathan_dataloaders(
    batch_size: int = 32,
    download: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
    stim_type: str = DEFAULT_STIM_TYPE,
    response_type: str = DEFAULT_RESPONSE_TYPE,
    train_chunk_size: int = 50,
    clip_length: int = 90,
    num_val_clips: int = 20,
    seed: int = 42,
    *,
    fr_normalization: float = 1.0,
    normalize_stimuli: bool = True,
    sessions: Iterable[str] | None = None,
    prepared: bool | None = None,
    store_dtype: str = "published",
    **loader_options: Any,
) -> DataLoaders:
    """Train/validation/test loaders of the Maheswaranathan et al. 2023 salamander recordings.

    ``data_dir`` is the extracted ``neural_code_data/`` folder; without it the dataset's cache folder is used
    and ``download=True`` fetches the archive. ``stim_type``: ``"naturalscene"`` or ``"whitenoise"``;
    ``response_type``: ``binned``, ``firing_rate_5ms``, ``firing_rate_10ms`` or ``firing_rate_20ms``.
    Each session's train movie is cut into clips of ``clip_length`` frames (0.9 s at 100 Hz) of which
    ``num_val_clips`` random ones (drawn with ``seed``) form the validation set; train samples are chunks of
    ``train_chunk_size`` frames; the repeated test movie is one sample under the key ``"test"``. Further
    keyword options go to :func:`openretina_core.data.multiple_movies_dataloaders` (e.g.
    ``val_clip_indices``, ``allow_over_boundaries``, ``nan_policy``, ``num_workers``, ``pin_memory``).
    ``prepared`` (default: on unless ``OPENRETINA_NO_STORE=1``): each session is read once into the core's
    prepared store and memory-mapped from there on every later load. ``store_dtype``: ``"published"`` keeps a
    stimulus published as uint8/int8/float16 in that dtype in the store (decoded to the same float32 values per
    batch); ``"float32"`` stores float32.
    """
    check_store_dtype(store_dtype)
    check_stim_type(stim_type)
    check_response_type(response_type)
    unknown = sorted(set(loader_options) - set(LOADER_OPTIONS))
    if unknown:  # a misspelt option: named, with the close matches (also a TypeError)
        raise UnknownOptionError(
            "maheswaranathan_2023", unknown[0], option_names(get_maheswaranathan_dataloaders, LOADER_OPTIONS)
        )
    root = resolve_data_root(data_dir, download)
    if store_enabled(prepared):
        movies, responses = _prepared_sessions(
            root, stim_type, response_type, fr_normalization, normalize_stimuli, sessions, store_dtype
        )
    else:
        # Responses first: they are small and their checks (keys, lengths) fail fast before a multi-GB read.
        responses = load_all_responses(
            root,
            stim_type=stim_type,
            response_type=response_type,
            fr_normalization=fr_normalization,
            sessions=sessions,
        )
        files = find_session_files(root, stim_type, list(responses))
        # Contiguous published movies are mapped in place (one pass for the moments), others read as before.
        movies = {s: load_movies(path, normalize_stimuli, store_dtype) for s, path in files.items()}
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
            "dataset": INFO.id,
            "stim_type": stim_type,
            "response_type": response_type,
            "stimulus_rate_hz": FRAME_RATE_HZ,
            "response_rate_hz": FRAME_RATE_HZ,
            "animal_species": SPECIES,
            "retina_pixel_size_um": PIXEL_SIZE_UM,
            "test_bins_trimmed": {s: r.session_kwargs["test_bins_trimmed"] for s, r in responses.items()},
        }
    )
    return loaders


def _prepared_sessions(
    root: Path,
    stim_type: str,
    response_type: str,
    fr_normalization: float,
    normalize_stimuli: bool,
    sessions: Iterable[str] | None,
    store_dtype: str = "published",
) -> tuple[dict[str, MoviesTrainTestSplit], dict[str, ResponsesTrainTestSplit]]:
    """Every session through the core's prepared store: read from its HDF5 file once, mapped afterwards.

    A session whose movies are stored contiguous is not copied: its entry holds the responses and the
    :class:`InPlaceMovies` record (offsets, shapes, dtypes, moments; the file's size and modification time are
    in the entry's key), and the movies are mapped from the HDF5 file itself."""
    params = {
        "stim_type": stim_type,
        "response_type": response_type,
        "fr_normalization": float(fr_normalization),
        "normalize_stimuli": bool(normalize_stimuli),
        "store_dtype": store_dtype,
    }
    movies: dict[str, MoviesTrainTestSplit] = {}
    responses: dict[str, ResponsesTrainTestSplit] = {}
    for session, path in find_session_files(root, stim_type, sessions).items():
        in_memory: list[tuple[Any, Any]] = []

        def build(
            writer: EntryWriter,
            path: Path = path,
            session: str = session,
            in_memory: list[tuple[Any, Any]] = in_memory,
        ) -> None:
            # Responses first: they are small and their checks fail fast before a pass over the frames.
            session_responses = load_responses_for_session(
                path, response_type, fr_normalization, session=session
            )
            record = scan_in_place(path, normalize_stimuli, store_dtype)
            if record is None:
                pair = (load_stimuli_for_session(path, normalize_stimuli, store_dtype), session_responses)
            else:
                pair = (map_in_place(record), session_responses)
                writer.user_meta[IN_PLACE_KEY] = record.to_json()
            if not writer.in_memory:
                write_session(writer, None if record is not None else pair[0], session_responses)
            if writer.in_memory:  # the store cannot be written: serve what was read
                in_memory.append(pair)

        entry = prepare_entry(
            INFO.id, session, params=params, sources=[path], build=build, version=STORE_VERSION
        )
        if entry.in_memory and in_memory:
            movie, response = in_memory[0]
        else:
            movie, response = read_session(entry)
            record_json = entry.user_meta.get(IN_PLACE_KEY)
            if record_json is not None:
                movie = map_in_place(InPlaceMovies.from_json(record_json))
        if movie is None or response is None:
            raise BadDataError(f"{path}: the prepared session lacks its movies or responses")
        movies[session], responses[session] = movie, response
    return movies, responses


def registry_get_dataloaders(
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    batch_size: int = 32,
    **options: Any,
) -> DataLoaders:
    """What ``openretina_core.get_dataloaders("maheswaranathan_2023", ...)`` calls."""
    return get_maheswaranathan_dataloaders(
        batch_size=batch_size, download=download, data_dir=data_dir, **options
    )
