"""Build ``{"train": {session: DataLoader}, "validation": {...}, <test name>: {...}}`` from containers.

Splits are index maps into one stored movie: nothing here copies a movie that is already float32 and
time-major (containers built from a time-major buffer are), and sessions sharing a movie share its storage.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from openretina_core.data.arguments import check_index_list
from openretina_core.data.compact import stimulus_map_of
from openretina_core.data.containers import (
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    check_matching_stimulus,
)
from openretina_core.data.data_info import compute_data_info
from openretina_core.data.file_rows import FILE_READS_FRACTION_OF_RAM, FileRows, memory_bytes
from openretina_core.data.movie_dataset import MovieDataset
from openretina_core.data.sampler import make_movie_dataloader
from openretina_core.data.types import SplitLoaders
from openretina_core.data.values import count_nonfinite
from openretina_core.registry.errors import BadDataError, check_int

logger = logging.getLogger(__name__)

NAN_POLICIES = ("raise", "drop_neurons", "zero")
SPLITS = ("seeded", "openretina")  # how validation clips are drawn when none are given
MOVIE_READS = ("auto", "memory", "file")  # where batch chunks of file-backed movies come from


class DataLoaders(dict[str, SplitLoaders]):
    """The loaders dict, ``{"train": {session: loader}, "validation": {...}, <test stimulus>: {...}}``, plus
    ``data_info`` (neuron counts, shapes, normalisation, chosen validation clips). Its loaders yield
    :class:`~openretina_core.data.movie_dataset.DataPoint` batches (``openretina_core.data.types``)."""

    data_info: dict[str, Any]

    def __init__(self, *args: Any, data_info: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data_info = data_info or {}


class MovieStore:
    """Converts movies to time-major tensors once, so every session that shares an array shares the tensor."""

    def __init__(self, movie_reads: str = "auto") -> None:
        if movie_reads not in MOVIE_READS:
            raise BadDataError(f"movie_reads must be one of {MOVIE_READS}, received {movie_reads!r}")
        self.movie_reads = movie_reads
        self._tensors: dict[int, tuple[np.ndarray, torch.Tensor]] = {}
        self._files: dict[int, FileRows | None] = {}
        self.copies = 0

    def time_major(self, movie: np.ndarray) -> torch.Tensor:
        """``(C, T, H, W)`` array -> ``(T, C, H, W)`` tensor; zero-copy when the memory is already time-major."""
        key = id(movie)
        if key in self._tensors:
            return self._tensors[key][1]
        moved = np.moveaxis(movie, 0, 1)
        if not moved.flags.c_contiguous:
            logger.info("copying a %s movie to time-major order (%.1f MB)", movie.shape, movie.nbytes / 1e6)
            moved = np.ascontiguousarray(moved)
            self.copies += 1
        moved = np.asarray(moved)  # a plain view of memory-mapped or prepared arrays, for torch
        self._files[key] = FileRows.of(moved)
        tensor = torch.from_numpy(moved) if moved.flags.writeable else torch.from_numpy(moved.copy())
        self._tensors[key] = (movie, tensor)
        return tensor

    def file_for(self, movie: np.ndarray, file_backed_bytes: int) -> FileRows | None:
        """The file to read ``movie``'s chunks from, when chunks are read from files: ``movie_reads="file"``, or
        ``"auto"`` with the call's file-backed movies over ``FILE_READS_FRACTION_OF_RAM`` of this machine's
        memory (mapping them would leave every page the epoch touched resident in the process)."""
        self.time_major(movie)
        rows = self._files.get(id(movie))
        if rows is None or self.movie_reads == "memory":
            return None
        if self.movie_reads == "file":
            return rows
        ram = memory_bytes()
        return rows if ram and file_backed_bytes > FILE_READS_FRACTION_OF_RAM * ram else None


def choose_validation_clips(
    num_clips: int,
    num_val_clips: int,
    val_clip_indices: Sequence[int] | None,
    seed: int,
    session: str,
    split: str = "seeded",
) -> np.ndarray:
    """Explicit indices (validated, kept in their order) or ``num_val_clips`` drawn without replacement.

    ``split="seeded"``: drawn by ``np.random.default_rng(seed)`` and sorted (sessions with the same number of
    clips get the same clips). ``split="openretina"``: openretina 1.1.1's draw,
    ``np.random.RandomState(seed).choice(num_clips, num_val_clips, replace=False)``, in the order drawn (the
    validation loader serves them in that order), so models trained there are evaluated on the same clips.
    """
    if split not in SPLITS:
        raise BadDataError(f"split must be one of {SPLITS}, received {split!r}")
    check_int("seed", seed, 0)  # every builder draws here: a bad argument is named, not numpy's message
    check_int("num_val_clips", num_val_clips, 0)
    check_index_list("val_clip_indices", val_clip_indices)
    if val_clip_indices is not None:
        chosen = np.asarray(list(val_clip_indices), dtype=np.int64)
        if len(np.unique(chosen)) != len(chosen):
            raise BadDataError(f"session {session!r}: val_clip_indices contain duplicates: {chosen.tolist()}")
        if chosen.size and (chosen.min() < 0 or chosen.max() >= num_clips):
            raise BadDataError(
                f"session {session!r}: val_clip_indices must lie in [0, {num_clips}), got {chosen.tolist()}"
            )
        return chosen
    if num_val_clips > num_clips:
        raise BadDataError(
            f"session {session!r}: {num_val_clips} validation clips requested, only {num_clips} exist"
        )
    if split == "openretina":
        return np.random.RandomState(seed).choice(num_clips, num_val_clips, replace=False).astype(np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(num_clips, size=num_val_clips, replace=False)).astype(np.int64)


def apply_nan_policy(
    responses: ResponsesTrainTestSplit, policy: str, session: str
) -> tuple[ResponsesTrainTestSplit, dict[str, Any]]:
    """Return responses without NaN according to ``policy`` and a record of what was done."""
    if policy not in NAN_POLICIES:
        raise BadDataError(f"nan_policy must be one of {NAN_POLICIES}, got {policy!r}")
    arrays = {"train": responses.train, **{f"test[{k}]": v for k, v in responses.test_dict.items()}}
    arrays.update({f"test_by_trial[{k}]": v for k, v in responses.test_by_trial_dict.items()})
    if all(getattr(arr, "verified_finite", False) for arr in arrays.values()):
        return responses, {}  # checked when they were stored: a mapped store is not read here
    bad_neurons = np.zeros(responses.n_neurons, dtype=bool)
    n_nan = 0
    for key, arr in arrays.items():
        if n_inf := count_nonfinite(arr)[1]:  # inf is damage, not missing: no policy zeroes or drops it
            raise BadDataError(
                f"session {session!r}: responses {key} contain {n_inf} infinite values; "
                "nan_policy handles NaN only: fix the recording or mark those values NaN"
            )
        nan = np.isnan(arr)
        if nan.any():
            n_nan += int(nan.sum())
            neuron_axis = 1 if key.startswith("test_by_trial") else 0
            other = tuple(a for a in range(arr.ndim) if a != neuron_axis)
            bad_neurons |= nan.any(axis=other)
    if n_nan == 0:
        return responses, {}
    if policy == "raise":
        raise BadDataError(
            f"session {session!r}: responses contain {n_nan} NaN values in {int(bad_neurons.sum())} neurons "
            f"(indices {np.flatnonzero(bad_neurons)[:10].tolist()}...). Choose nan_policy='drop_neurons' or "
            f"'zero' to handle them."
        )
    if policy == "drop_neurons":
        keep = ~bad_neurons
        logger.warning("session %s: dropping %d neurons with NaN responses", session, int(bad_neurons.sum()))
        if not keep.any():
            raise BadDataError(f"session {session!r}: every neuron has NaN responses; nothing left to load")
        cleaned = ResponsesTrainTestSplit(
            train=responses.train[keep],
            test_dict={k: v[keep] for k, v in responses.test_dict.items()},
            test_by_trial_dict={k: v[:, keep] for k, v in responses.test_by_trial_dict.items()},
            stim_id=responses.stim_id,
            session_kwargs=responses.session_kwargs,
        )
        return cleaned, {"dropped_neurons": np.flatnonzero(bad_neurons).tolist(), "nan_values": n_nan}
    logger.warning("session %s: replacing %d NaN response values with 0", session, n_nan)
    cleaned = ResponsesTrainTestSplit(
        train=np.nan_to_num(responses.train, nan=0.0),
        test_dict={k: np.nan_to_num(v, nan=0.0) for k, v in responses.test_dict.items()},
        test_by_trial_dict={k: np.nan_to_num(v, nan=0.0) for k, v in responses.test_by_trial_dict.items()},
        stim_id=responses.stim_id,
        session_kwargs=responses.session_kwargs,
    )
    return cleaned, {"zeroed_values": n_nan}


def distributed_context(distributed: bool | None) -> tuple[int, int]:
    """``(num_replicas, rank)``: from ``torch.distributed`` when it is initialised (or forced), else ``(1, 0)``."""
    import torch.distributed as dist

    active = dist.is_available() and dist.is_initialized()
    if distributed is None:
        distributed = active
    if not distributed:
        return 1, 0
    if not active:
        raise RuntimeError("distributed=True but torch.distributed is not initialised")
    return dist.get_world_size(), dist.get_rank()


def test_batch_size(batch_size: int, train_chunk_size: int, test_chunk: int) -> int:
    """Scale the batch so a test batch holds about as many frames as a train batch."""
    if test_chunk <= train_chunk_size:
        return batch_size
    return max(1, batch_size * train_chunk_size // test_chunk)


def responses_time_major(array: np.ndarray) -> torch.Tensor:
    """``(N, T)`` -> ``(T, N)`` tensor without copying: contiguous when the array is a view of time-major
    memory, otherwise a strided view (gathering rows of it is still one ``index_select``)."""
    transposed = np.asarray(array.T)
    if not transposed.flags.writeable:
        transposed = transposed.copy()
    return torch.from_numpy(transposed)


def multiple_movies_dataloaders(
    neuron_data_dictionary: Mapping[str, ResponsesTrainTestSplit],
    movies_dictionary: Mapping[str, MoviesTrainTestSplit] | MoviesTrainTestSplit,
    train_chunk_size: int = 50,
    batch_size: int = 32,
    seed: int = 42,
    clip_length: int = 100,
    num_val_clips: int = 10,
    val_clip_indices: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
    allow_over_boundaries: bool = True,
    nan_policy: str = "raise",
    num_workers: int = 0,
    distributed: bool | None = None,
    pin_memory: bool = False,
    split: str = "seeded",
    movie_reads: str = "auto",
) -> DataLoaders:
    """Train/validation/test loaders for every session.

    ``movies_dictionary`` is ``{session: movies}`` or one movies object shared by all sessions (held once).
    The train movie is cut into clips of ``clip_length``; validation clips are ``val_clip_indices`` (a list, or
    a per-session mapping) or ``num_val_clips`` drawn with ``seed``; the other complete clips, in order, form
    the train sequence, sampled in chunks of ``train_chunk_size`` with random shifts (crossing clip seams only
    if ``allow_over_boundaries``). Validation samples are whole clips; each test stimulus is one chunk (or clips
    when ``allow_over_boundaries`` is false). ``nan_policy``: ``"raise"``, ``"drop_neurons"`` or ``"zero"``.
    ``split="openretina"`` draws the validation clips exactly as openretina 1.1.1 does (see
    :func:`choose_validation_clips`); the default ``"seeded"`` is ours. ``movie_reads`` for movies that map a
    file (the prepared store, ``np.memmap``): ``"memory"`` gathers from the mapping, ``"file"`` reads each chunk
    from the file (RSS bounded by the batch buffers), ``"auto"`` reads from files when the mapped movies exceed
    half of this machine's memory.
    """
    if split not in SPLITS:
        raise BadDataError(f"split must be one of {SPLITS}, received {split!r}")
    for name, value, minimum in (
        ("train_chunk_size", train_chunk_size, 1),
        ("batch_size", batch_size, 1),
        ("clip_length", clip_length, 1),
        ("num_val_clips", num_val_clips, 0),
        ("seed", seed, 0),
        ("num_workers", num_workers, 0),
    ):
        check_int(name, value, minimum)
    check_index_list("val_clip_indices", val_clip_indices)
    num_replicas, rank = distributed_context(distributed)
    store = MovieStore(movie_reads)
    file_backed = _file_backed_bytes(movies_dictionary)
    loaders: dict[str, dict[str, DataLoader]] = {"train": {}, "validation": {}}
    chosen_clips: dict[str, list[int]] = {}
    cleaned_responses: dict[str, ResponsesTrainTestSplit] = {}
    nan_records: dict[str, Any] = {}
    for session in sorted(neuron_data_dictionary):
        responses = neuron_data_dictionary[session]
        movies = (
            movies_dictionary
            if isinstance(movies_dictionary, MoviesTrainTestSplit)
            else _session_movies(movies_dictionary, session)
        )
        check_matching_stimulus(movies, responses, session)
        responses, record = apply_nan_policy(responses, nan_policy, session)
        if record:
            nan_records[session] = record
        cleaned_responses[session] = responses
        movie_tm = store.time_major(movies.train)
        movie_file = store.file_for(movies.train, file_backed)
        resp_tm = responses_time_major(responses.train)
        num_clips = movie_tm.shape[0] // clip_length
        explicit = (
            val_clip_indices.get(session) if isinstance(val_clip_indices, Mapping) else val_clip_indices
        )
        val_clips = choose_validation_clips(num_clips, num_val_clips, explicit, seed, session, split)
        chosen_clips[session] = val_clips.tolist()
        train_clips = np.setdiff1d(np.arange(num_clips), val_clips)
        clip_offsets = np.arange(clip_length)
        train_index = (train_clips[:, None] * clip_length + clip_offsets).reshape(-1)
        if len(train_index) < train_chunk_size:
            raise BadDataError(
                f"session {session!r}: the train sequence has {len(train_index)} frames after removing "
                f"validation clips, fewer than train_chunk_size={train_chunk_size}"
            )
        train_ds = MovieDataset(
            movie_tm,
            resp_tm,
            train_chunk_size,
            train_index,
            train_index,
            name=f"{session}/train",
            movie_file=movie_file,
            movie_map=stimulus_map_of(movies.train),  # compact movies stay compact, decoded per batch
        )
        starts = np.arange(0, len(train_index) - train_chunk_size + 1, train_chunk_size)
        loaders["train"][session] = make_movie_dataloader(
            train_ds,
            batch_size,
            starts,
            train=True,
            shift="over_boundaries" if allow_over_boundaries else "within_clips",
            clip_starts=np.arange(0, len(train_index), clip_length),
            seed=seed,
            num_replicas=num_replicas,
            rank=rank,
            num_workers=num_workers,
            pin_memory=pin_memory,
        )
        if len(val_clips):
            val_index = (val_clips[:, None] * clip_length + clip_offsets).reshape(-1)
            val_ds = MovieDataset(
                movie_tm,
                resp_tm,
                clip_length,
                val_index,
                val_index,
                name=f"{session}/validation",
                movie_file=movie_file,
                movie_map=stimulus_map_of(movies.train),
            )
            loaders["validation"][session] = make_movie_dataloader(
                val_ds,
                batch_size,
                np.arange(0, len(val_index), clip_length),
                train=False,
                num_replicas=num_replicas,
                rank=rank,
                num_workers=num_workers,
                pin_memory=pin_memory,
            )
        for test_name, test_movie in movies.test_dict.items():
            test_tm = store.time_major(test_movie)
            test_resp = responses_time_major(responses.test_dict[test_name])
            t_test = test_tm.shape[0]
            chunk = t_test if allow_over_boundaries else min(clip_length, t_test)
            by_trial = responses.test_by_trial_dict.get(test_name)
            test_ds = MovieDataset(
                test_tm,
                test_resp,
                chunk,
                test_responses_by_trial=torch.from_numpy(by_trial) if by_trial is not None else None,
                name=f"{session}/{test_name}",
                movie_file=store.file_for(test_movie, file_backed),
                movie_map=stimulus_map_of(test_movie),
            )
            loaders.setdefault(test_name, {})[session] = make_movie_dataloader(
                test_ds,
                test_batch_size(batch_size, train_chunk_size, chunk),
                np.arange(0, t_test - chunk + 1, chunk),
                train=False,
                num_replicas=num_replicas,
                rank=rank,
                num_workers=num_workers,
                pin_memory=pin_memory,
            )
    data_info = compute_data_info(cleaned_responses, movies_dictionary, val_clip_indices=chosen_clips)
    if nan_records:
        data_info["nan_policy_applied"] = nan_records
    data_info["movie_copies_made"] = store.copies
    return DataLoaders(loaders, data_info=data_info)


def _file_backed_bytes(movies: Mapping[str, MoviesTrainTestSplit] | MoviesTrainTestSplit) -> int:
    """Bytes of the distinct file-backed movies of one builder call (a movie shared by sessions counts once)."""
    seen: dict[tuple[str, int], int] = {}
    for split in [movies] if isinstance(movies, MoviesTrainTestSplit) else list(movies.values()):
        for movie in (split.train, *split.test_dict.values()):
            rows = FileRows.of(np.moveaxis(movie, 0, 1))
            if rows is not None:
                seen[(rows.path, rows.offset)] = rows.nbytes
    return sum(seen.values())


def _session_movies(movies: Mapping[str, MoviesTrainTestSplit], session: str) -> MoviesTrainTestSplit:
    if session not in movies:
        raise KeyError(f"no movies for session {session!r}; movie sessions are {sorted(movies)}")
    return movies[session]
