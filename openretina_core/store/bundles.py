"""Many sessions in one prepared entry: for plugins that read every session from one source file anyway.

One entry per session costs a folder, a lock, a ``meta.json`` and a rename per session plus a file create per
array: for Höfling's 67 fields with ~8 small arrays each that was 539 files, most of a first load's time above
the machine's floor. A bundle packs the arrays of the same name and dtype of every session back to back into one
flat file (offsets, shapes and finiteness per session in ``meta.json``), so the entry holds a handful of files;
an array bigger than :data:`PACK_LIMIT` keeps a file of its own. Reading gives each session the containers
:func:`~openretina_core.store.sessions.read_session` gives for a one-session entry, whose arrays are views of the
mapped packed files (nothing copied). The bundle is keyed, verified, cleaned and invalidated as one entry.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from openretina_core.files.progress import byte_bar
from openretina_core.store.layout import BUNDLE_META, PreparedArray, PreparedEntry, check_name
from openretina_core.store.preparing import prepare_entry
from openretina_core.store.sessions import _SEP, SessionPair, _write_session, read_session
from openretina_core.store.writer import EntryWriter

PACK_LIMIT = 64 << 20  # arrays above this many bytes keep their own file, as in a one-session entry


class _Collected:
    """Stands in for the writer while one session's containers are laid out: records the arrays instead of
    writing them, so the bundle can pack every session's arrays of one kind together."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.user_meta: dict[str, Any] = {}

    def put(
        self, name: str, values: Any, dtype: Any = None, progress: Callable[[int], Any] | None = None
    ) -> None:
        self.arrays[name] = np.asarray(values, dtype=dtype)


def write_bundle(writer: EntryWriter, sessions: Mapping[str, SessionPair]) -> None:
    """Write every session's containers into ``writer``: small arrays packed by (name, dtype), big ones alone,
    with one byte progress bar for the bundle."""
    collected: dict[str, _Collected] = {}
    for session in sorted(sessions):
        check_name("session", session)
        sink = _Collected()
        _write_session(sink, *sessions[session], progress=lambda n: None)
        collected[session] = sink
    total = sum(int(a.nbytes) for sink in collected.values() for a in sink.arrays.values())
    packs: dict[tuple[str, str], list[tuple[str, np.ndarray]]] = defaultdict(list)
    places: dict[str, dict[str, Any]] = {session: {} for session in collected}
    used: set[str] = set()
    name = writer.folder.parent.name if writer.folder is not None else "bundle"
    with byte_bar(f"preparing {name}", total=total) as bar:
        for session, sink in collected.items():
            for array_name, array in sink.arrays.items():
                if array.nbytes <= PACK_LIMIT:
                    packs[(array_name, array.dtype.str)].append((session, array))
                    continue
                own = _unused(f"file{_SEP}{session}{_SEP}{array_name}", used)
                writer.put(own, array, progress=bar.update)
                places[session][array_name] = {"file": own}
        for (array_name, dtype), members in sorted(packs.items()):
            # "pack__<name>__<dtype>" is unique per (name, dtype): dtype names hold no "__"
            pack = _unused(f"pack{_SEP}{array_name}{_SEP}{np.dtype(dtype).name}", used)
            finite = writer.put_packed(pack, [array for _, array in members], dtype, progress=bar.update)
            offset = 0
            for (session, array), ok in zip(members, finite, strict=True):
                places[session][array_name] = {
                    "pack": pack,
                    "offset": offset,
                    "shape": list(array.shape),
                    "finite": ok,
                }
                offset += int(array.size)
    writer.user_meta[BUNDLE_META] = {
        session: {"session": sink.user_meta["session"], "arrays": places[session]}
        for session, sink in collected.items()
    }


def _unused(name: str, used: set[str]) -> str:
    candidate, count = name, 1
    while candidate in used:
        candidate, count = f"{name}{_SEP}{count}", count + 1
    used.add(candidate)
    return candidate


def read_bundle(entry: PreparedEntry) -> dict[str, SessionPair]:
    """Every session of a bundled entry, its arrays views of the packed mapped files."""
    bundle = entry.user_meta.get(BUNDLE_META, {})
    result: dict[str, SessionPair] = {}
    for session in sorted(bundle):
        record = bundle[session]
        arrays = {name: _member(entry, place) for name, place in record["arrays"].items()}
        view = PreparedEntry(
            folder=entry.folder, meta={"user": {"session": record["session"]}}, arrays=arrays
        )
        result[session] = read_session(view)
    return result


def _member(entry: PreparedEntry, place: Mapping[str, Any]) -> np.ndarray:
    if "file" in place:
        return entry[place["file"]]
    packed = entry[place["pack"]]
    shape = tuple(place["shape"])
    start = int(place["offset"])
    view = packed[start : start + int(np.prod(shape, dtype=np.int64))].reshape(shape)
    if isinstance(view, PreparedArray):
        view.verified_finite = bool(place["finite"])
    return view


def prepared_sessions(
    dataset_id: str,
    name: str,
    *,
    params: Mapping[str, Any],
    sources: Sequence[str | os.PathLike[str]],
    read: Callable[[], Mapping[str, SessionPair]],
    version: str | int = 1,
) -> dict[str, SessionPair]:
    """``{session: (movies, responses)}`` of many sessions, mapped from one prepared entry ``name``.

    For sessions a plugin reads all together from the same files: ``read()`` returns every session's containers
    (either may be None) and runs only when the entry is missing. ``params``, ``sources`` and ``version`` key
    the whole bundle, as for :func:`~openretina_core.store.sessions.prepared_session`.
    """
    in_memory: list[dict[str, SessionPair]] = []

    def build(writer: EntryWriter) -> None:
        sessions = dict(read())
        if not writer.in_memory:
            write_bundle(writer, sessions)
        if writer.in_memory:  # the store cannot be written: serve what was read
            in_memory.append(sessions)

    entry = prepare_entry(dataset_id, name, params=params, sources=sources, build=build, version=version)
    if entry.in_memory and in_memory:
        return {session: in_memory[0][session] for session in sorted(in_memory[0])}
    return read_bundle(entry)
