"""``get_sridhar_dataloaders``: locate the files, read responses and movies (through the prepared store), split
the trials and build the loaders.

Per session: the responses (kept trials, cells) and the movies of exactly those trials, time-major and aligned
trial for trial; the train/validation splits are index maps over whole trials; the test loader serves the
repeated sequence with its mean response and ``test_responses_by_trial`` ``(repeats, N, T_test)``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from openretina_core import BadDataError
from openretina_core.data import (
    DataLoaders,
    MovieStore,
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    apply_nan_policy,
    check_matching_stimulus,
    check_store_dtype,
    compute_data_info,
    distributed_context,
    make_movie_dataloader,
    responses_time_major,
    stimulus_map_of,
)
from openretina_sridhar_2025.chunks import (
    OverheadMovieDataset,
    TrialBlockSampler,
    chunks_per_trial,
    frame_overhead,
    loader_with_sampler,
    trial_sequence,
)
from openretina_sridhar_2025.constants import (
    DATASET_ID,
    DEFAULT_BATCH_SIZE,
    DEFAULT_CHUNK,
    DEFAULT_NUM_OF_FRAMES,
    DEFAULT_SPLIT_SEED,
    DEFAULT_TRAIN_FRAC,
    FRAME_RATE_HZ,
    NATURAL_MOVIE,
    PIXEL_UM_DEFAULT,
    PIXEL_UM_FULL_RESOLUTION,
    RETINA_CROP,
    STA_DIR,
    TEST_DATA_FRAMES,
    TEST_NAME,
    WHITENOISE,
)
from openretina_sridhar_2025.entries import RenderedMovie
from openretina_sridhar_2025.layout import excluded_for, session_files, stim_root
from openretina_sridhar_2025.render import Geometry
from openretina_sridhar_2025.responses import prepared_responses
from openretina_sridhar_2025.sessions import containers, session_movies
from openretina_sridhar_2025.splits import TrialSplit, check_split, split_trials
from openretina_sridhar_2025.stas import rf_locations

logger = logging.getLogger(__name__)


def get_sridhar_dataloaders(
    batch_size: int = DEFAULT_BATCH_SIZE,
    download: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    stim_type: str = NATURAL_MOVIE,
    *,
    sessions: Iterable[str] | None = None,
    stimulus_seed: int = 0,
    excluded_cells: str | Mapping[str, Sequence[int]] | None = "published",
    cell_index: int | None = None,
    split: str = "seeded",
    seed: int = DEFAULT_SPLIT_SEED,
    train_frac: float = DEFAULT_TRAIN_FRAC,
    final_training: bool = False,
    hard_coded: tuple[Sequence[int], Sequence[int]] | None = None,
    num_of_trials_to_use: int | None = None,
    start_using_trial: int = 0,
    time_chunk_size: int = DEFAULT_CHUNK,
    num_of_frames: int | Sequence[int] = DEFAULT_NUM_OF_FRAMES,
    temporal_dilation: int = 1,
    hidden_temporal_dilation: int | Sequence[int] = 1,
    num_of_layers: int | None = None,
    extra_frame: int = 0,
    subsample: int = 1,
    crop: Sequence[int] = RETINA_CROP,
    flip_imgs: bool = False,
    test_frames: int = TEST_DATA_FRAMES,
    cache_maxsize: int = 1,
    get_locations: bool | None = None,
    flip_sta: bool | None = None,
    render_device: str | torch.device | None = None,
    prepared: bool | None = None,
    nan_policy: str = "raise",
    num_workers: int = 0,
    pin_memory: bool = False,
    distributed: bool | None = None,
    movie_reads: str = "auto",
    store_dtype: str = "published",
) -> DataLoaders:
    """Train/validation/test loaders of the Sridhar et al. 2025 marmoset sessions of ``stim_type``.

    Batches: inputs ``(B, 1, time_chunk_size + overhead, H, W)`` (80 x 90 by default), targets
    ``(B, time_chunk_size, N)``; ``overhead`` follows from ``num_of_frames`` (one kernel size, or one per layer),
    ``temporal_dilation``, ``hidden_temporal_dilation`` (see :func:`~openretina_sridhar_2025.chunks.frame_overhead`)
    and is recorded in ``data_info["frame_overhead"]``. Trials are split into train and validation (``split``,
    ``seed``, ``train_frac``, ``final_training``, ``hard_coded``, trial windows: see ``splits.py``); the test
    loader serves the repeated sequence. ``stimulus_seed`` selects a seed's trials where the pickle separates
    them; ``excluded_cells`` (``"published"``, a mapping, or None) or ``cell_index`` select cells.
    ``render_device`` renders natural-movie frames on that device; ``prepared=False`` keeps everything in
    memory instead of the prepared store. ``store_dtype="published"`` (default) stores natural-movie frames of
    uint8 images as uint8 (a quarter of the bytes; batches are decoded to the same float32 values);
    ``"float32"`` stores float32.
    """
    from openretina_core.store import store_enabled

    check_split(split)
    check_store_dtype(store_dtype)
    if batch_size < 1:
        raise BadDataError(f"batch_size must be positive, got {batch_size}")
    if extra_frame < 0:
        raise BadDataError(f"extra_frame must be >= 0, got {extra_frame}")
    overhead = frame_overhead(num_of_frames, temporal_dilation, hidden_temporal_dilation, num_of_layers)
    if len(crop) != 4:
        raise BadDataError(f"crop must be (top, bottom, left, right), got {tuple(crop)}")
    top, bottom, left, right = (int(c) for c in crop)
    geometry = Geometry(
        retina_crop=(top, bottom, left, right), subsample=int(subsample), flip_imgs=bool(flip_imgs)
    )
    root = stim_root(data_dir, stim_type, download)
    found = session_files(root, stim_type, sessions)
    use_store = store_enabled(prepared)
    device = None
    if render_device is not None:
        from openretina_core.data import resolve_device

        device = resolve_device(render_device)
    num_replicas, rank = distributed_context(distributed)
    flip = (stim_type == NATURAL_MOVIE) if flip_sta is None else bool(flip_sta)
    opened: dict[str, dict[str, np.ndarray]] = {}
    # Natural movies not prepared yet are served rendered per batch while their entries are written in threads
    # (background.py); DataLoader workers keep the blocking path.
    writes: dict[int, dict[str, RenderedMovie]] | None = {} if num_workers == 0 else None
    pending: dict[str, dict[str, RenderedMovie]] = {}
    response_writes: dict[str, list[Any]] = {}
    pairs: dict[str, tuple[MoviesTrainTestSplit, ResponsesTrainTestSplit]] = {}
    splits: dict[str, TrialSplit] = {}
    locations: dict[str, list[list[int]]] = {}
    for files in found:
        session = files.session
        responses = prepared_responses(
            files.responses,
            session,
            stim_type,
            stimulus_seed=stimulus_seed,
            excluded=excluded_for(stim_type, session, excluded_cells),
            cell_index=cell_index,
            use_store=use_store,
            writes=response_writes.setdefault(session, []) if writes is not None else None,
        )
        movies = session_movies(
            files,
            responses,
            geometry=geometry,
            test_frames=test_frames,
            cache_maxsize=cache_maxsize,
            render_device=device,
            use_store=use_store,
            opened=opened,
            store_dtype=store_dtype,
            writes=writes,
        )
        if writes and id(movies) in writes:
            pending[session] = writes[id(movies)]
        sta_dir = files.root / STA_DIR
        if get_locations or (get_locations is None and sta_dir.is_dir()):
            locations[session] = rf_locations(
                sta_dir, session, responses.cell_indices, geometry.retina_crop, flip, geometry.subsample
            )
        extra = {
            "stimulus_seed": int(stimulus_seed),
            "num_trials": len(responses.trials),
            "stim_type": stim_type,
        }
        pairs[session] = containers(session, stim_type, movies, responses, extra)
        splits[session] = split_trials(
            responses.trials,
            train_frac=train_frac,
            seed=seed,
            split=split,
            final_training=final_training,
            hard_coded=hard_coded,
            num_of_trials_to_use=num_of_trials_to_use,
            start_using_trial=start_using_trial,
        )
    store = MovieStore(movie_reads)
    file_backed = (
        sum({id(m): m.nbytes for movies in opened.values() for m in movies.values()}.values())
        if use_store
        else 0
    )
    loaders: dict[str, dict[str, Any]] = {"train": {}, "validation": {}, TEST_NAME: {}}
    cleaned: dict[str, ResponsesTrainTestSplit] = {}
    nan_records: dict[str, Any] = {}
    for session, (movie_split, response_split) in pairs.items():
        check_matching_stimulus(movie_split, response_split, session)
        response_split, record = apply_nan_policy(response_split, nan_policy, session)
        if record:
            nan_records[session] = record
        cleaned[session] = response_split
        fpt = int(response_split.session_kwargs["frames_per_trial"])
        if chunks_per_trial(fpt, time_chunk_size, overhead, extra_frame) < 1:
            raise BadDataError(
                f"session {session}: trials of {fpt} frames hold no sample of time_chunk_size={time_chunk_size} "
                f"+ overhead {overhead} + extra_frame {extra_frame}"
            )
        rendered = pending.get(session, {})
        for movie in rendered.values():
            movie.choose_file = lambda array: store.file_for(array, file_backed)
        if rendered:
            movie_tm, movie_file = rendered["train"].tensor, None
        else:
            movie_tm = store.time_major(movie_split.train)
            movie_file = store.file_for(movie_split.train, file_backed)
        resp_tm = responses_time_major(response_split.train)
        for name, positions in (("train", splits[session].train), ("validation", splits[session].validation)):
            if not positions:
                continue
            movie_index, response_index, starts = trial_sequence(
                positions, fpt, time_chunk_size, overhead, extra_frame
            )
            dataset = OverheadMovieDataset(
                movie_tm,
                resp_tm,
                time_chunk_size,
                overhead,
                movie_index=movie_index,
                response_index=response_index,
                name=f"{session}/{name}",
                movie_file=movie_file,
                movie_map=stimulus_map_of(movie_split.train),
                rendered=rendered.get("train"),
                checks=response_writes.get(session, ()),
            )
            if name == "validation":
                loader = make_movie_dataloader(
                    dataset,
                    batch_size,
                    starts,
                    train=False,
                    num_replicas=num_replicas,
                    rank=rank,
                    num_workers=num_workers,
                    pin_memory=pin_memory,
                )
            elif stim_type == WHITENOISE:
                sampler = TrialBlockSampler(
                    starts,
                    chunks_per_trial(fpt, time_chunk_size, overhead, extra_frame),
                    dataset.chunk_size,
                    dataset.sequence_length,
                    seed=seed,
                    num_replicas=num_replicas,
                    rank=rank,
                )
                loader = loader_with_sampler(
                    dataset, batch_size, sampler, num_workers=num_workers, pin_memory=pin_memory
                )
            else:
                loader = make_movie_dataloader(
                    dataset,
                    batch_size,
                    starts,
                    train=True,
                    shift="none",
                    seed=seed,
                    num_replicas=num_replicas,
                    rank=rank,
                    num_workers=num_workers,
                    pin_memory=pin_memory,
                )
            loaders[name][session] = loader
        test_movie = movie_split.test_dict[TEST_NAME]
        test_tm = rendered["test"].tensor if rendered else store.time_major(test_movie)
        test_resp = responses_time_major(response_split.test_dict[TEST_NAME])
        t_test = test_tm.shape[0]
        per_test = chunks_per_trial(t_test, time_chunk_size, overhead, extra_frame)
        if per_test < 1:
            raise BadDataError(f"session {session}: the test sequence of {t_test} frames holds no sample")
        _, test_response_index, test_starts = trial_sequence(
            [0], t_test, time_chunk_size, overhead, extra_frame
        )
        by_trial = response_split.test_by_trial_dict.get(TEST_NAME)
        test_ds = OverheadMovieDataset(
            test_tm,
            test_resp,
            time_chunk_size,
            overhead,
            response_index=test_response_index if extra_frame else None,
            test_responses_by_trial=torch.from_numpy(np.asarray(by_trial)) if by_trial is not None else None,
            name=f"{session}/{TEST_NAME}",
            movie_file=None if rendered else store.file_for(test_movie, file_backed),
            movie_map=stimulus_map_of(test_movie),
            rendered=rendered.get("test"),
            checks=response_writes.get(session, ()),
        )
        loaders[TEST_NAME][session] = make_movie_dataloader(
            test_ds,
            batch_size,
            test_starts,
            train=False,
            num_replicas=num_replicas,
            rank=rank,
            num_workers=num_workers,
            pin_memory=pin_memory,
        )
    movies_dict = {s: pair[0] for s, pair in pairs.items()}
    validation = {s: splits[s].validation_trials for s in pairs}
    data_info = compute_data_info(cleaned, movies_dict, val_clip_indices=validation)
    data_info.update(
        {
            "dataset": DATASET_ID,
            "stim_type": stim_type,
            "stimulus_class": stim_type,
            "response_rate_hz": FRAME_RATE_HZ,
            "stimulus_rate_hz": FRAME_RATE_HZ,
            "retina_pixel_size_um": PIXEL_UM_DEFAULT * geometry.subsample,
            "retina_pixel_size_um_full_resolution": PIXEL_UM_FULL_RESOLUTION,
            "animal_species": "marmoset",
            "split": split,
            "train_trials": {s: splits[s].train_trials for s in pairs},
            "val_trials": validation,
            "frame_overhead": overhead,
            "time_chunk_size": int(time_chunk_size),
            "extra_frame": int(extra_frame),
            "rf_locations": locations,
            "flip_sta": flip,
            "movie_copies_made": store.copies,
        }
    )
    if nan_records:
        data_info["nan_policy_applied"] = nan_records
    return DataLoaders(loaders, data_info=data_info)


def registry_get_dataloaders(
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **options: Any,
) -> DataLoaders:
    """What ``openretina_core.get_dataloaders("sridhar_2025", ...)`` calls."""
    return get_sridhar_dataloaders(batch_size=batch_size, download=download, data_dir=data_dir, **options)
