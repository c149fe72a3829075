"""A session's containers through the prepared store: the one call a dataset plugin makes.

``prepared_session`` returns the session's ``MoviesTrainTestSplit`` / ``ResponsesTrainTestSplit`` backed by
memory-mapped files. The first call runs the plugin's own reader (``read``) and writes what it returns; every
later call with the same parameters and unchanged source files maps the files and reads nothing. Movies are
stored time-major ``(T, C, H, W)`` and responses ``(T, N)``, the layout the dataloaders gather from, so the
containers are views and building loaders copies nothing. A movie the reader returns compact (a ``CompactArray``:
its published uint8/int8/float16 values and the map to float32) is stored compact, its map in ``meta.json``, and
comes back compact: batches are decoded while they are assembled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from openretina_core.data.compact import StimulusMap, as_compact, stimulus_map_of
from openretina_core.data.containers import MoviesTrainTestSplit, ResponsesTrainTestSplit
from openretina_core.files.progress import byte_bar
from openretina_core.store.layout import PreparedEntry
from openretina_core.store.preparing import prepare_entry
from openretina_core.store.writer import EntryWriter

SessionPair = tuple[MoviesTrainTestSplit | None, ResponsesTrainTestSplit | None]
_SEP = "__"


class ArraySink(Protocol):
    """Where a session's arrays go: an :class:`EntryWriter`, or a bundle collecting them to pack."""

    user_meta: dict[str, Any]

    def put(
        self, name: str, values: Any, dtype: Any = None, progress: Callable[[int], Any] | None = None
    ) -> None: ...


def _json_or_array(name: str, value: Any) -> tuple[Any, np.ndarray | None]:
    """Session metadata values: JSON as they are (numpy scalars as Python numbers), numpy arrays as their own
    prepared array."""
    if isinstance(value, np.ndarray):
        return {"array": name}, value
    if isinstance(value, np.generic):
        value = value.item()
    try:
        json.dumps(value)
    except TypeError as exc:
        raise TypeError(
            f"session_kwargs[{name!r}] of type {type(value).__name__} cannot be stored: use JSON values or "
            f"numpy arrays"
        ) from exc
    return {"json": value}, None


def _session_bytes(movies: MoviesTrainTestSplit | None, responses: ResponsesTrainTestSplit | None) -> int:
    arrays: list[np.ndarray] = []
    if movies is not None:
        arrays += [movies.train, *movies.test_dict.values()]
    if responses is not None:
        arrays += [responses.train, *responses.test_dict.values(), *responses.test_by_trial_dict.values()]
    return sum(int(a.nbytes) for a in arrays)


def write_session(
    writer: EntryWriter, movies: MoviesTrainTestSplit | None, responses: ResponsesTrainTestSplit | None
) -> None:
    """Write one session's containers into ``writer`` (time-major arrays plus their metadata), with a byte
    progress bar (bytes, rate and time left)."""
    name = writer.folder.parent.name if writer.folder is not None else "session"
    with byte_bar(f"preparing {name}", total=_session_bytes(movies, responses)) as bar:
        _write_session(writer, movies, responses, bar.update)


def _write_session(
    writer: ArraySink,
    movies: MoviesTrainTestSplit | None,
    responses: ResponsesTrainTestSplit | None,
    progress: Callable[[int], Any],
) -> None:
    record: dict[str, Any] = {}
    if movies is not None:
        writer.put("movie_train", np.moveaxis(movies.train, 0, 1), progress=progress)
        for name, movie in movies.test_dict.items():
            writer.put(f"movie_test{_SEP}{name}", np.moveaxis(movie, 0, 1), progress=progress)
        if movies.random_sequences is not None:
            writer.put("movie_random_sequences", movies.random_sequences)
        maps = {"movie_train": stimulus_map_of(movies.train)}
        maps.update({f"movie_test{_SEP}{k}": stimulus_map_of(m) for k, m in movies.test_dict.items()})
        record["movies"] = {
            "maps": {name: m.to_json() for name, m in maps.items() if m is not None},  # compact arrays
            "tests": list(movies.test_dict),
            "stim_id": movies.stim_id,
            "norm_mean": movies.norm_mean,
            "norm_std": movies.norm_std,
            "random_sequences": movies.random_sequences is not None,
        }
    if responses is not None:
        writer.put("responses_train", responses.train.T, progress=progress)
        for name, values in responses.test_dict.items():
            writer.put(f"responses_test{_SEP}{name}", values.T, progress=progress)
        for name, trials in responses.test_by_trial_dict.items():
            writer.put(f"responses_by_trial{_SEP}{name}", trials, progress=progress)
        kwargs: dict[str, Any] = {}
        for key, value in responses.session_kwargs.items():
            kwargs[key], array = _json_or_array(f"kwarg{_SEP}{key}", value)
            if array is not None:
                writer.put(f"kwarg{_SEP}{key}", array)
        record["responses"] = {
            "tests": list(responses.test_dict),
            "by_trial": list(responses.test_by_trial_dict),
            "stim_id": responses.stim_id,
            "session_kwargs": kwargs,
        }
    writer.user_meta["session"] = record


def read_session(entry: PreparedEntry) -> SessionPair:
    """The containers of a prepared session, as views of its mapped arrays."""
    record = entry.user_meta.get("session", {})
    movies = responses = None
    if "movies" in record:
        spec = record["movies"]
        movies = MoviesTrainTestSplit(
            train=_movie(entry, "movie_train", spec["maps"]),
            test_dict={
                name: _movie(entry, f"movie_test{_SEP}{name}", spec["maps"]) for name in spec["tests"]
            },
            stim_id=spec["stim_id"],
            random_sequences=entry["movie_random_sequences"] if spec["random_sequences"] else None,
            norm_mean=spec["norm_mean"],
            norm_std=spec["norm_std"],
        )
    if "responses" in record:
        spec = record["responses"]
        kwargs = {  # metadata arrays are small: plain in-memory copies
            key: np.array(entry[value["array"]]) if "array" in value else value["json"]
            for key, value in spec["session_kwargs"].items()
        }
        responses = ResponsesTrainTestSplit(
            train=entry["responses_train"].T,
            test_dict={name: entry[f"responses_test{_SEP}{name}"].T for name in spec["tests"]},
            test_by_trial_dict={name: entry[f"responses_by_trial{_SEP}{name}"] for name in spec["by_trial"]},
            stim_id=spec["stim_id"],
            session_kwargs=kwargs,
        )
    return movies, responses


def _movie(entry: PreparedEntry, name: str, maps: dict[str, Any]) -> np.ndarray:
    """A stored time-major movie as a ``(C, T, H, W)`` view: compact with its map when stored compact."""
    movie = np.moveaxis(entry[name], 0, 1)
    return as_compact(movie, StimulusMap.from_json(maps[name])) if name in maps else movie


def prepared_session(
    dataset_id: str,
    session: str,
    *,
    params: Mapping[str, Any],
    sources: Sequence[str | os.PathLike[str]],
    read: Callable[[], SessionPair],
    version: str | int = 1,
) -> SessionPair:
    """``(movies, responses)`` of one session, mapped from the prepared store (prepared on first use).

    ``params``: every option that changes the arrays (JSON-able). ``sources``: the files ``read`` reads (their
    identity is part of the key). ``read()``: the plugin's in-memory reader, returning the session's containers
    (either may be None). ``version``: the plugin's format version; bump it when the reader's output changes.
    """

    in_memory: list[SessionPair] = []

    def build(writer: EntryWriter) -> None:
        pair = read()
        if not writer.in_memory:
            write_session(writer, *pair)
        if writer.in_memory:  # the store cannot be written: serve what was read, as before
            in_memory.append(pair)

    entry = prepare_entry(dataset_id, session, params=params, sources=sources, build=build, version=version)
    if entry.in_memory and in_memory:
        return in_memory[0]
    return read_session(entry)
