"""Train/validation/test loaders for the natural movie, with the movie held once for every session.

Each field saw the 108 training clips in the order of one column of ``random_sequences`` (its
``scan_sequence_idx``), and its responses are stored in that presentation order. Instead of building one
reordered (and, for left eyes, mirrored) movie copy per sequence, every session's datasets hold index maps
into the one shared ``(T, C, H, W)`` movie tensor: position -> canonical frame for the movie, position ->
presentation bin for the responses. Left-eye sessions mirror each batch along width when it is assembled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openretina_core import BadDataError
from openretina_core.data import (
    DataLoaders,
    MovieDataset,
    MovieStore,
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    apply_nan_policy,
    check_index_list,
    check_matching_stimulus,
    choose_validation_clips,
    compute_data_info,
    distributed_context,
    make_movie_dataloader,
    responses_time_major,
    test_batch_size,
)
from openretina_core.registry import check_int
from openretina_core.store import store_enabled
from openretina_hoefling_2024 import constants as c
from openretina_hoefling_2024.errata import effective_eye

logger = logging.getLogger(__name__)

STORE_VERSION = 2  # bump when what the readers return changes: older prepared entries are then never served
# 2: the kept fields are one bundled entry ``_fields`` (1: an index entry plus one entry per field)


def presentation_orders(movies: MoviesTrainTestSplit, num_clips: int) -> np.ndarray:
    """``(num_clips, n_sequences)``: the clip shown at each position per stimulus version (identity if absent)."""
    if movies.random_sequences is None:
        return np.arange(num_clips, dtype=np.int64)[:, None]
    orders = np.asarray(movies.random_sequences, dtype=np.int64)
    if orders.shape[0] != num_clips:
        raise BadDataError(f"random_sequences: expected ({num_clips}, n_sequences), received {orders.shape}")
    expected = np.arange(num_clips)
    for column in range(orders.shape[1]):
        if not np.array_equal(np.sort(orders[:, column]), expected):
            raise BadDataError(
                f"random_sequences column {column} is not a permutation of the clips 0..{num_clips - 1}"
            )
    return orders


def _sequence_column(session: str, kwargs: Mapping[str, Any], n_sequences: int) -> int:
    column = kwargs.get("scan_sequence_idx")
    if column is None:
        if n_sequences == 1:
            return 0
        raise BadDataError(
            f"session {session!r} has no scan_sequence_idx but the movie has {n_sequences} clip orders; "
            f"set session_kwargs['scan_sequence_idx']"
        )
    column = int(column)
    if not 0 <= column < n_sequences:
        raise BadDataError(f"session {session!r}: scan_sequence_idx {column} outside [0, {n_sequences})")
    return column


def clip_index_maps(
    order: np.ndarray, validation_clips: np.ndarray, clip_length: int, use_base_sequence: bool = False
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train"|"validation": (movie frame index, response bin index)}`` for one presentation order.

    ``order[p]`` is the clip shown at position ``p``; responses are stored by position. Validation clip ``v``
    was shown at ``argsort(order)[v]``. Train keeps the remaining clips in presentation order (or canonical
    order with ``use_base_sequence``).
    """
    offsets = np.arange(clip_length)
    position_of = np.argsort(order)
    is_validation = np.isin(order, validation_clips)
    if use_base_sequence:
        train_clips = np.setdiff1d(np.arange(len(order)), validation_clips)
        train_positions = position_of[train_clips]
    else:
        train_positions = np.flatnonzero(~is_validation)
        train_clips = order[train_positions]
    val_positions = position_of[validation_clips]

    def frames(clips: np.ndarray) -> np.ndarray:
        return (clips[:, None] * clip_length + offsets).reshape(-1)

    return {
        "train": (frames(train_clips), frames(train_positions)),
        "validation": (frames(validation_clips), frames(val_positions)),
    }


def _drop_roi_metadata(
    responses: ResponsesTrainTestSplit, dropped: Sequence[int], n_before: int
) -> ResponsesTrainTestSplit:
    """After neurons were dropped (NaN policy), drop them from the per-ROI metadata too (ROI axis 0)."""
    keep = np.ones(n_before, dtype=bool)
    keep[list(dropped)] = False
    kwargs = dict(responses.session_kwargs)
    for key in c.PER_ROI_SESSION_KWARGS:
        value = kwargs.get(key)
        if value is not None and np.shape(value)[:1] == (n_before,):
            kwargs[key] = np.asarray(value)[keep]
    return ResponsesTrainTestSplit(
        train=responses.train,
        test_dict=responses.test_dict,
        test_by_trial_dict=responses.test_by_trial_dict,
        stim_id=responses.stim_id,
        session_kwargs=kwargs,
    )


def natmov_dataloaders_v2(
    neuron_data_dictionary: Mapping[str, ResponsesTrainTestSplit],
    movies_dictionary: MoviesTrainTestSplit,
    validation_clip_indices: Sequence[int] | None = c.DEFAULT_VALIDATION_CLIPS,
    train_chunk_size: int = c.DEFAULT_TRAIN_CHUNK,
    batch_size: int = 32,
    num_clips: int = c.NUM_CLIPS,
    clip_length: int = c.CLIP_LENGTH,
    allow_over_boundaries: bool = True,
    use_base_sequence: bool = False,
    seed: int = 42,
    nan_policy: str = "raise",
    num_workers: int = 0,
    distributed: bool | None = None,
    pin_memory: bool = False,
    split: str = "seeded",
) -> DataLoaders:
    """``{"train": {session: loader}, "validation": {...}, "test": {...}}`` for the natural movie.

    ``validation_clip_indices`` are canonical clip numbers (0..107), removed from every session's training
    sequence and served in the order listed (one 150-frame sample each). Train samples are chunks of
    ``train_chunk_size`` starting every chunk (randomly shifted each epoch, crossing clip seams when
    ``allow_over_boundaries``). "test" is one sample of the whole 750-frame test movie, with the averaged
    responses as targets and ``dataset.test_responses_by_trial`` ``(3, N, 750)``. Batches: inputs
    ``(B, 2, T, H, W)``, targets ``(B, T, N)``. ``nan_policy``: "raise", "drop_neurons" or "zero".
    ``distributed``: shard across ``torch.distributed`` ranks (``None``: when initialised). ``split`` is
    accepted for symmetry with the other datasets: validation clips here are an explicit list, served in its
    order, so ``"seeded"`` and ``"openretina"`` give the same clips as openretina 1.1.1.
    """
    if not isinstance(movies_dictionary, MoviesTrainTestSplit):
        raise TypeError(
            f"movies_dictionary must be the shared MoviesTrainTestSplit (get_all_movies()), "
            f"got {type(movies_dictionary).__name__}"
        )
    stim_ids = {r.stim_id for r in neuron_data_dictionary.values()}
    if stim_ids - {c.NATURAL_STIM_ID}:
        raise BadDataError(
            f"natmov_dataloaders_v2 needs natural-movie responses; found stim_id(s) {sorted(map(str, stim_ids))}"
        )
    if not neuron_data_dictionary:
        raise BadDataError("neuron_data_dictionary is empty (every field was filtered out?)")
    movies = movies_dictionary
    if movies.train.shape[1] != num_clips * clip_length:
        raise BadDataError(
            f"train movie has {movies.train.shape[1]} frames, expected {num_clips} clips x {clip_length} frames"
        )
    if c.TEST_NAME not in movies.test_dict:
        raise KeyError(
            f"the movie has no {c.TEST_NAME!r} test stimulus; test stimuli: {sorted(movies.test_dict)}"
        )
    check_index_list("validation_clip_indices", validation_clip_indices)  # named as the user typed it
    check_int("batch_size", batch_size, 1)
    orders = presentation_orders(movies, num_clips)
    validation = choose_validation_clips(
        num_clips, 0, list(validation_clip_indices or []), seed, "<all sessions>", split
    )
    num_replicas, rank = distributed_context(distributed)
    store = MovieStore()
    movie_tm = store.time_major(movies.train)
    test_tm = store.time_major(movies.test_dict[c.TEST_NAME])
    common: dict[str, Any] = {
        "num_replicas": num_replicas,
        "rank": rank,
        "num_workers": num_workers,
        "pin_memory": pin_memory,
    }
    loaders: dict[str, dict[str, Any]] = {"train": {}, "validation": {}, c.TEST_NAME: {}}
    cleaned: dict[str, ResponsesTrainTestSplit] = {}
    extra: dict[str, dict[str, Any]] = {"roi_coords": {}, "roi_ids": {}, "eye": {}, "scan_sequence_idx": {}}
    nan_records: dict[str, Any] = {}
    for session in sorted(neuron_data_dictionary):
        responses = neuron_data_dictionary[session]
        check_matching_stimulus(movies, responses, session)
        n_before = responses.n_neurons
        responses, record = apply_nan_policy(responses, nan_policy, session)
        if record:
            nan_records[session] = record
        if "dropped_neurons" in record:
            responses = _drop_roi_metadata(responses, record["dropped_neurons"], n_before)
        cleaned[session] = responses
        kwargs = responses.session_kwargs
        flip = effective_eye(session, kwargs.get("eye")) == "left"
        column = _sequence_column(session, kwargs, orders.shape[1])
        maps = clip_index_maps(orders[:, column], validation, clip_length, use_base_sequence)
        resp_tm = responses_time_major(responses.train)
        movie_index, response_index = maps["train"]
        train_ds = MovieDataset(
            movie_tm, resp_tm, train_chunk_size, movie_index, response_index, flip, name=f"{session}/train"
        )
        length = len(movie_index)
        loaders["train"][session] = make_movie_dataloader(
            train_ds,
            batch_size,
            np.arange(0, length - train_chunk_size + 1, train_chunk_size),
            train=True,
            shift="over_boundaries" if allow_over_boundaries else "within_clips",
            clip_starts=np.arange(0, length, clip_length),
            seed=seed,
            **common,
        )
        if len(validation):
            movie_index, response_index = maps["validation"]
            val_ds = MovieDataset(
                movie_tm,
                resp_tm,
                clip_length,
                movie_index,
                response_index,
                flip,
                name=f"{session}/validation",
            )
            loaders["validation"][session] = make_movie_dataloader(
                val_ds, batch_size, np.arange(0, len(movie_index), clip_length), train=False, **common
            )
        by_trial = responses.test_by_trial_dict.get(c.TEST_NAME)
        t_test = test_tm.shape[0]
        test_ds = MovieDataset(
            test_tm,
            responses_time_major(responses.test_dict[c.TEST_NAME]),
            t_test,
            flip_width=flip,
            test_responses_by_trial=torch.from_numpy(np.ascontiguousarray(by_trial))
            if by_trial is not None
            else None,
            name=f"{session}/{c.TEST_NAME}",
        )
        loaders[c.TEST_NAME][session] = make_movie_dataloader(
            test_ds, test_batch_size(batch_size, train_chunk_size, t_test), [0], train=False, **common
        )
        extra["roi_coords"][session] = kwargs.get("roi_coords")
        extra["roi_ids"][session] = kwargs.get("roi_ids")
        extra["eye"][session] = "left" if flip else "right"
        extra["scan_sequence_idx"][session] = column
    data_info = compute_data_info(
        cleaned,
        movies,
        partial_data_info=c.DATA_INFO,
        val_clip_indices={s: validation.tolist() for s in cleaned},
    )
    data_info.update(extra)
    data_info["validation_clip_indices"] = validation.tolist()
    data_info["movie_copies_made"] = store.copies
    if nan_records:
        data_info["nan_policy_applied"] = nan_records
    return DataLoaders(loaders, data_info=data_info)


def get_hoefling_dataloaders(
    data_dir: str | Path | None = None,
    download: bool = False,
    batch_size: int = c.DEFAULT_BATCH_SIZE,
    *,
    resolution: str = "18x16",
    response_type: str = c.NATURAL_STIM_ID,
    responses_path: str | Path | None = None,
    movies_path: str | Path | None = None,
    subset: bool = False,
    trace_type: str = "spikes",
    cell_types: Iterable[int] | int | None = c.DEFAULT_CELL_TYPES,
    d_qi: float | None = c.DEFAULT_D_QI,
    chirp_qi: float | None = c.DEFAULT_CHIRP_QI,
    qi_logic: str = c.DEFAULT_QI_LOGIC,
    classifier_confidence: float | None = c.DEFAULT_CLASSIFIER_CONFIDENCE,
    filter_counts: bool = c.DEFAULT_FILTER_COUNTS,
    count_threshold: int = c.DEFAULT_COUNT_THRESHOLD,
    sessions: Iterable[str] | None = None,
    validation_clip_indices: Sequence[int] | None = c.DEFAULT_VALIDATION_CLIPS,
    prepared: bool | None = None,
    **loader_options: Any,
) -> DataLoaders:
    """Responses + movie + loaders in one call (what ``get_dataloaders("hoefling_2024", ...)`` runs).

    Files come from ``data_dir`` (the published layout, archives extracted), explicit ``responses_path`` /
    ``movies_path``, or the cache (``download=True`` fetches only the files needed). Quality options as in
    :func:`~openretina_hoefling_2024.responses.get_all_responses`; loader options (``train_chunk_size``,
    ``seed``, ``nan_policy``, ``use_base_sequence``, ``num_workers``, ``distributed``, ...) as in
    :func:`natmov_dataloaders_v2`. ``prepared`` (default: on unless ``OPENRETINA_NO_STORE=1``): the movie and
    every kept field are read once into the core's prepared store and memory-mapped on every later load.
    """
    from openretina_hoefling_2024.responses import get_all_responses
    from openretina_hoefling_2024.stimuli import get_all_movies

    if response_type != c.NATURAL_STIM_ID:
        raise BadDataError(
            f"dataloaders exist for the natural movie only (response_type='natural'), got {response_type!r}: no "
            f"chirp or moving-bar movie is published with this dataset. Load those responses into containers "
            f"with get_all_responses(response_type={response_type!r})."
        )
    filters: dict[str, Any] = {
        "subset": subset,
        "trace_type": trace_type,
        "cell_types": cell_types,
        "d_qi": d_qi,
        "chirp_qi": chirp_qi,
        "qi_logic": qi_logic,
        "classifier_confidence": classifier_confidence,
        "filter_counts": filter_counts,
        "count_threshold": count_threshold,
        "sessions": sessions,
    }
    if store_enabled(prepared):
        movies, responses = _prepared(responses_path, movies_path, data_dir, download, resolution, filters)
    else:
        movies = get_all_movies(movies_path, data_dir=data_dir, download=download, resolution=resolution)
        responses = get_all_responses(
            responses_path, data_dir=data_dir, download=download, response_type=c.NATURAL_STIM_ID, **filters
        )
    return natmov_dataloaders_v2(
        responses,
        movies,
        validation_clip_indices=validation_clip_indices,
        batch_size=batch_size,
        **loader_options,
    )


def _prepared(
    responses_path: str | Path | None,
    movies_path: str | Path | None,
    data_dir: str | Path | None,
    download: bool,
    resolution: str,
    filters: dict[str, Any],
) -> tuple[MoviesTrainTestSplit, dict[str, ResponsesTrainTestSplit]]:
    """The movie and every kept field through the core's prepared store. The response file holds every field,
    so the kept fields are one bundled entry (their small arrays packed into a few files), read when missing."""
    from openretina_core.store import prepared_session, prepared_sessions
    from openretina_hoefling_2024.files import locate_responses, locate_stimulus
    from openretina_hoefling_2024.responses import get_all_responses
    from openretina_hoefling_2024.stimuli import load_movies

    movie_file = locate_stimulus(
        path=movies_path, data_dir=data_dir, download=download, resolution=resolution
    )
    movies, _ = prepared_session(
        c.DATASET_ID,
        f"_movie_{resolution}",
        params={"resolution": resolution},
        sources=[movie_file],
        read=lambda: (load_movies(movie_file), None),
        version=STORE_VERSION,
    )
    response_file = locate_responses(
        path=responses_path, data_dir=data_dir, download=download, subset=filters["subset"]
    )
    params = {
        key: sorted(value) if isinstance(value, (list, tuple, set)) else value
        for key, value in filters.items()
    }
    params = {**params, "response_type": c.NATURAL_STIM_ID}

    def all_fields() -> dict[str, tuple[None, ResponsesTrainTestSplit]]:
        options = {k: v for k, v in filters.items() if k != "subset"}
        fields = get_all_responses(response_file, response_type=c.NATURAL_STIM_ID, **options)
        return {session: (None, response) for session, response in fields.items()}

    bundle = prepared_sessions(
        c.DATASET_ID,
        "_fields",
        params=params,
        sources=[response_file],
        read=all_fields,
        version=STORE_VERSION,
    )
    responses: dict[str, ResponsesTrainTestSplit] = {}
    for session, (_, response) in bundle.items():
        if response is None:
            raise BadDataError(f"{response_file}: the prepared field {session!r} has no responses")
        responses[session] = response
    if movies is None:
        raise BadDataError(f"{movie_file}: the prepared movie entry holds no movie; prepare it again")
    return movies, responses
