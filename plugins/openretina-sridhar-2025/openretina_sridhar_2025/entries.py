"""The movies' prepared-store entries: mapped when they exist, else built (natural movies: served rendered per
batch while the entry is written in a thread, see ``background.py``; otherwise written first, through the
entry's files)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openretina_core.data import StimulusMap, StreamedFrames, as_compact
from openretina_sridhar_2025.background import BackgroundWrite, anonymous_array, probe_entry
from openretina_sridhar_2025.constants import DATASET_ID, MOVIE_FORMAT_VERSION
from openretina_sridhar_2025.render import FramePlan
from openretina_sridhar_2025.stimuli import (
    IMAGE_MAP,
    Allocate,
    new_arrays,
    plan_streams,
    plans_with_own_images,
)


def _put_movies(writer: Any, arrays: Mapping[str, Any], close: bool = False) -> None:
    """Write ``arrays`` (streams or in-memory movies) through the entry's files; uint8 frames with ``IMAGE_MAP``."""
    maps = {}
    for array, values in arrays.items():
        try:
            writer.put(array, values, values.dtype)
        finally:
            if close:
                values.close()
        if values.dtype == np.uint8:
            maps[array] = IMAGE_MAP.to_json()
    writer.user_meta["maps"] = maps


def _entry_movies(entry: Any) -> dict[str, np.ndarray]:
    maps = entry.meta.get("user", {}).get("maps", {})
    return {
        name: as_compact(entry[name], StimulusMap.from_json(maps[name])) if name in maps else entry[name]
        for name in ("test", "train")
    }


def _compact_views(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        name: as_compact(array, IMAGE_MAP) if array.dtype == np.uint8 else array
        for name, array in arrays.items()
    }


def prepared_movies(
    name: str,
    params: dict[str, Any],
    sources: Sequence[Path],
    make: Callable[[Allocate], dict[str, np.ndarray]],
    *,
    use_store: bool,
    opened: dict[str, dict[str, np.ndarray]],
    streams: Callable[[], dict[str, StreamedFrames]] | None = None,
    plans: Callable[[], tuple[dict[str, FramePlan], np.dtype]] | None = None,
    writes: dict[int, dict[str, RenderedMovie]] | None = None,
) -> dict[str, np.ndarray]:
    """The movies ``make`` builds: mapped from the store entry for ``params`` and ``sources`` when it exists,
    else built. With ``plans`` and ``writes``: served rendered per batch while the entry is written in a thread
    (``RenderedMovie``; recorded in ``writes`` under ``id`` of the returned dict, whose arrays are then
    placeholders of the movies' shape) when the store can be written outside a strict preparation. Else, with
    ``streams`` (or ``plans``), written through the entry's files a bounded chunk at a time; else built straight
    into a new entry's files. ``opened`` holds what this load has mapped already, so sessions with the same
    files and options share one array."""
    token = json.dumps({"name": name, **params}, sort_keys=True, default=str)
    if token in opened:
        return opened[token]
    if not use_store:
        movies = make(new_arrays)
    else:
        from openretina_core.store import prepare_entry

        entry = None
        if plans is not None and writes is not None:
            entry, strict, writable = probe_entry(DATASET_ID, name, params, sources, MOVIE_FORMAT_VERSION)
            if entry is None and not strict and writable:
                movies, rendered = _served_while_written(name, params, sources, *plans())
                writes[id(movies)] = rendered
                opened[token] = movies
                return movies

        def build(writer: Any) -> None:
            if streams is None and plans is None:
                make(lambda array, shape: writer.allocate(array, shape, np.float32))
                return
            if streams is not None:
                made = streams()
            else:
                assert plans is not None
                made = plan_streams(*plans(), name)
            _put_movies(writer, made, close=True)

        if entry is None:
            entry = prepare_entry(
                DATASET_ID,
                name,
                params=params,
                sources=list(sources),
                build=build,
                version=MOVIE_FORMAT_VERSION,
            )
        movies = _entry_movies(entry)
    opened[token] = movies
    return movies


def _served_while_written(
    name: str,
    params: dict[str, Any],
    sources: Sequence[Path],
    plans: dict[str, FramePlan],
    dtype: np.dtype,
) -> tuple[dict[str, np.ndarray], dict[str, RenderedMovie]]:
    """Placeholders of the movies (a broadcast zero frame: no memory) and the ``RenderedMovie`` of each, with
    the entry written in a thread from the same plans (reading their own images)."""
    from openretina_core.store import prepare_entry

    own = plans_with_own_images(plans)

    def write() -> Any:
        return prepare_entry(
            DATASET_ID,
            name,
            params=params,
            sources=list(sources),
            build=lambda writer: _put_movies(writer, plan_streams(own, dtype, name), close=True),
            version=MOVIE_FORMAT_VERSION,
            memory_fallback=False,  # a failed store write is a warning; the movie is served rendered meanwhile
        )

    shapes = {array: (len(plan), 1, *plan.shape) for array, plan in plans.items()}
    nbytes = sum(int(np.prod(shape)) * dtype.itemsize for shape in shapes.values())
    background = BackgroundWrite(name, write, nbytes).start()
    placeholders = {
        array: np.broadcast_to(np.zeros((1, *shape[1:]), dtype), shape) for array, shape in shapes.items()
    }
    rendered = {
        array: RenderedMovie(array, plan, placeholders[array], background) for array, plan in plans.items()
    }
    return _compact_views(placeholders), rendered


class RenderedMovie:
    """One movie array served while its entry is written: batches render their frames (``render_rows``), and
    once the entry is committed its mapped, time-major tensor (``committed``) takes over; whole-movie uses wait
    for it (``wait_committed``). ``placeholder``: what the containers hold meanwhile (no memory)."""

    def __init__(self, name: str, plan: FramePlan, placeholder: np.ndarray, write: BackgroundWrite) -> None:
        self.name = name
        self.plan = plan
        self.placeholder = placeholder
        self.write = write
        self.shape = tuple(placeholder.shape)
        # The placeholder as the datasets hold it: one zero frame, expanded (no memory).
        self.tensor = torch.from_numpy(np.zeros((1, *self.shape[1:]), placeholder.dtype)).expand(self.shape)
        self._tensor: torch.Tensor | None = None
        self._lock = threading.Lock()
        # Set by the loaders: the file to read the committed movie's chunks from (file reads), given its
        # (C, T, H, W) view; ``file_rows`` holds the answer once committed.
        self.choose_file: Callable[[np.ndarray], Any] = lambda array: None
        self.file_rows: Any = None

    def render_rows(self, rows: np.ndarray, out: np.ndarray) -> None:
        with self._lock:  # the plan's image cache is not shared between threads
            self.plan.render_rows(rows, out)

    def committed(self) -> torch.Tensor | None:
        """The mapped movie once its write has finished (None while it runs); raises the write's failure."""
        self.write.check()
        return self._mapped() if self.write.done else None

    def wait_committed(self) -> torch.Tensor:
        self.write.wait()
        return self._mapped()

    def _mapped(self) -> torch.Tensor:
        with self._lock:
            if self._tensor is None:
                entry = self.write.result
                if entry is not None:
                    array = np.asarray(_entry_movies(entry)[self.name])
                    self.file_rows = self.choose_file(array.transpose(1, 0, 2, 3))
                else:  # the store could not be written (a warning): the whole movie rendered into memory
                    array = anonymous_array(self.placeholder.shape, self.placeholder.dtype)
                    self.plan.render(0, len(self.plan), array)
                self._tensor = torch.from_numpy(array)
            return self._tensor
