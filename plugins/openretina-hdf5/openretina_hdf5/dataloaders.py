"""``get_hdf5_dataloaders``: read a folder in the generic layout and build the loaders with the core's builder."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from openretina_core.data import (
    DataLoaders,
    MovieDataset,
    MovieStore,
    MoviesTrainTestSplit,
    apply_nan_policy,
    check_store_dtype,
    choose_validation_clips,
    distributed_context,
    make_movie_dataloader,
    multiple_movies_dataloaders,
    responses_time_major,
    test_batch_size,
)
from openretina_core.registry import UnknownOptionError, option_names
from openretina_core.store import store_enabled
from openretina_hdf5.constants import DATASET_ID, DEFAULT_LOADER_OPTIONS
from openretina_hdf5.prepared import load_hdf5_prepared
from openretina_hdf5.reading import Hdf5Data, load_hdf5

logger = logging.getLogger(__name__)

_OWN_ARGUMENTS = {"neuron_data_dictionary", "movies_dictionary", "train_chunk_size", "batch_size", "seed"}
LOADER_OPTIONS = tuple(
    name for name in inspect.signature(multiple_movies_dataloaders).parameters if name not in _OWN_ARGUMENTS
)
_DEFAULTS = {name: p.default for name, p in inspect.signature(multiple_movies_dataloaders).parameters.items()}


def _shared_or_per_session(
    movies: Mapping[str, MoviesTrainTestSplit],
) -> Mapping[str, MoviesTrainTestSplit] | MoviesTrainTestSplit:
    """One container for all sessions when they all show the same arrays (the builder then holds it once)."""
    distinct = {id(m): m for m in movies.values()}
    return next(iter(distinct.values())) if len(distinct) == 1 else dict(movies)


def _add_test_only_sessions(
    loaders: DataLoaders,
    data: Hdf5Data,
    sessions: Sequence[str],
    batch_size: int,
    train_chunk_size: int,
    options: Mapping[str, Any],
) -> None:
    """Test loaders (no train or validation loader) for sessions whose stimuli are all test stimuli."""
    clip_length = int(options.get("clip_length", DEFAULT_LOADER_OPTIONS["clip_length"]))
    over_boundaries = bool(options.get("allow_over_boundaries", _DEFAULTS["allow_over_boundaries"]))
    num_replicas, rank = distributed_context(options.get("distributed"))
    common: dict[str, Any] = {
        "train": False,
        "num_replicas": num_replicas,
        "rank": rank,
        "num_workers": int(options.get("num_workers", 0)),
        "pin_memory": bool(options.get("pin_memory", False)),
    }
    store = MovieStore()
    info = loaders.data_info
    for session in sessions:
        responses, record = apply_nan_policy(
            data.responses[session], options.get("nan_policy", _DEFAULTS["nan_policy"]), session
        )
        if record:
            info.setdefault("nan_policy_applied", {})[session] = record
        for name, movie in data.movies[session].test_dict.items():
            movie_tm = store.time_major(movie)
            n_frames = movie_tm.shape[0]
            chunk = n_frames if over_boundaries else min(clip_length, n_frames)
            dataset = MovieDataset(
                movie_tm, responses_time_major(responses.test_dict[name]), chunk, name=f"{session}/{name}"
            )
            loaders.setdefault(name, {})[session] = make_movie_dataloader(
                dataset,
                test_batch_size(batch_size, train_chunk_size, chunk),
                np.arange(0, n_frames - chunk + 1, chunk),
                **common,
            )
        all_tests = np.concatenate(list(responses.test_dict.values()), axis=1)
        info.setdefault("n_neurons_dict", {})[session] = responses.n_neurons
        info.setdefault("mean_activity_dict", {})[session] = torch.from_numpy(
            np.nanmean(all_tests, axis=1, dtype=np.float64).astype(np.float32)
        )
        info.setdefault("sessions_kwargs", {})[session] = responses.session_kwargs
    info["movie_copies_made"] = info.get("movie_copies_made", 0) + store.copies


def _empty_loaders(data: Hdf5Data) -> DataLoaders:
    """The loaders dict before any session is added, for a dataset without training stimuli."""
    any_movies = next(iter(data.movies.values()))
    return DataLoaders(
        {"train": {}, "validation": {}},
        data_info={
            "input_shape": data.layout.input_shape,
            "stim_mean": any_movies.norm_mean,
            "stim_std": any_movies.norm_std,
            "stim_mean_dict": {},
            "stim_std_dict": {},
            "val_clip_indices": {},
            "movie_copies_made": 0,
        },
    )


def get_hdf5_dataloaders(
    data_dir: str | os.PathLike[str] | None,
    test_names: Iterable[str] = (),
    batch_size: int = 64,
    train_chunk_size: int = 50,
    clip_length: int = 75,
    num_val_clips: int = 20,
    seed: int = 42,
    *,
    stimulus_size: Sequence[int] | None = None,
    norm_mean: float | None = None,
    norm_std: float | None = None,
    sessions: Iterable[str] | None = None,
    frame_rate_hz: float | None = None,
    prepared: bool | None = None,
    store_dtype: str = "published",
    **loader_options: Any,
) -> DataLoaders:
    """Train/validation/test loaders of a folder in the generic HDF5 layout (``stimuli/`` + ``<session>.h5``).

    Every stimulus name with a ``responses_<name>`` is a stimulus of that session. Names in ``test_names`` are
    test stimuli: one loader each, under ``loaders[<name>]``. The other names are concatenated along time in
    sorted order (stimulus and responses alike) into the session's training movie, cut into clips of
    ``clip_length`` frames of which ``num_val_clips`` (drawn with ``seed``; ``split="openretina"`` draws them as
    openretina does) form the validation set; train samples are chunks of ``train_chunk_size`` frames.

    ``stimulus_size``: ``(C, H, W)`` every stimulus must have (default: that of the first stimulus).
    ``norm_mean``/``norm_std``: fixed normalisation ``(x - norm_mean) / norm_std`` (defaults 0 and 1).
    ``sessions``: load only these session names (file stems). ``frame_rate_hz`` is recorded in ``data_info``.
    Further keyword options go to :func:`openretina_core.data.multiple_movies_dataloaders` (``split``,
    ``val_clip_indices``, ``allow_over_boundaries``, ``nan_policy``, ``num_workers``, ``pin_memory``, ...).
    A session whose stimuli are all test stimuli gets test loaders only.

    ``prepared`` (default: on unless ``OPENRETINA_NO_STORE=1``): the folder is scanned and read once into the
    core's prepared store (responses, and every stimulus sequence that is derived: concatenated, normalised,
    from a session file, or channel-major) and mapped from there later, opening no HDF5 file; a one-channel
    ``stimuli/<name>.npy`` used as it is stored is mapped in place from the folder. ``store_dtype``:
    ``"published"`` keeps uint8/int8/float16 stimuli in that dtype (decoded to the same float32 values per
    batch); ``"float32"`` stores float32.
    """
    unknown = sorted(set(loader_options) - set(LOADER_OPTIONS))
    if unknown:  # a misspelt option: named, with the close matches (also a TypeError)
        raise UnknownOptionError(DATASET_ID, unknown[0], option_names(get_hdf5_dataloaders, LOADER_OPTIONS))
    choose_validation_clips(0, 0, None, 0, "", loader_options.get("split", "seeded"))  # refuses a bad split
    check_store_dtype(store_dtype)
    if store_enabled(prepared):
        data = load_hdf5_prepared(
            data_dir, test_names, stimulus_size, norm_mean, norm_std, sessions, store_dtype
        )
    else:
        data = load_hdf5(data_dir, test_names, stimulus_size, norm_mean, norm_std, sessions)
    with_train = [s for s, m in data.movies.items() if m.train.shape[1] > 0]
    test_only = [s for s in data.movies if s not in with_train]
    if with_train:
        loaders = multiple_movies_dataloaders(
            {s: data.responses[s] for s in with_train},
            _shared_or_per_session({s: data.movies[s] for s in with_train}),
            train_chunk_size=train_chunk_size,
            batch_size=batch_size,
            seed=seed,
            clip_length=clip_length,
            num_val_clips=num_val_clips,
            **loader_options,
        )
    else:
        loaders = _empty_loaders(data)
    if test_only:
        logger.info("sessions %s show only test stimuli: test loaders only", test_only)
        options = {"clip_length": clip_length, **loader_options}
        _add_test_only_sessions(loaders, data, test_only, batch_size, train_chunk_size, options)
    layout = data.layout
    loaders.data_info.update(
        {
            "dataset": DATASET_ID,
            "data_dir": str(layout.data_dir),
            "test_names": data.test_names,
            "test_only_sessions": test_only,
            "stimulus_names": {s: list(x.stimulus_names) for s, x in layout.sessions.items()},
            "stimulus_sources": {
                s: {n: src.label for n, src in x.sources.items()} for s, x in layout.sessions.items()
            },
            "movie_buffers": data.movie_buffers,
            "movie_bytes": data.movie_bytes,
        }
    )
    if frame_rate_hz is not None:
        loaders.data_info.update({"stimulus_rate_hz": frame_rate_hz, "response_rate_hz": frame_rate_hz})
    return loaders


def registry_get_dataloaders(
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    batch_size: int = 32,
    **options: Any,
) -> DataLoaders:
    """What ``openretina_core.get_dataloaders("hdf5", data_dir=..., test_names=[...])`` calls.

    ``download`` has nothing to fetch: the folder is the lab's own.
    """
    if download:
        logger.info("dataset %r has nothing to download; reading data_dir=%s", DATASET_ID, data_dir)
    return get_hdf5_dataloaders(data_dir, batch_size=batch_size, **options)
