"""Store entries written in threads while a cold load serves its first batches.

Why: on the project's VMs new memory and new page-cache pages cost ~0.45 s/GB to fault in (2.2 s/GB with the
transparent huge pages numpy asks for), and writes slow to ~400 MB/s once ~200 MB are dirty, so writing session
01's rendered uint8 movie (158,100 x 80 x 90 = 1.14 GB) took ~3 s of a 4.5 s cold load, and its 240 MB of
responses 0.6-1.0 s more, while rendering the movie takes 0.5 s. Three designs, measured on that session:

* render the movie into memory, serve it, write the entry from memory in a thread: first batch 3.1 s (1.0 s of it
  faulting in and rendering 1.14 GB), and the whole movie resident: peak RSS 1.69-1.79 GB, over the 1.5 GiB
  bound (a mapped movie only holds the frames the epoch reads, 0.83 GB);
* render and write in a thread while the responses are read: the 3 s write stays before the first batch;
* chosen: serve batches rendered per batch (``entries.RenderedMovie``: a batch's 16 x 130 frames in one call,
  ~10 ms, bit for bit the entry's frames) while a thread renders the entry from its own plans and writes it
  (bounded chunks, hashed as written, into the entry's ``.part`` folder, renamed into place whole by
  ``prepare_entry``); the responses are read into memory and written the same way. First batch 1.6 s, peak RSS
  0.95 GB; once committed, the next pass of each dataset maps the entry, and whole-movie uses wait for it.

A process killed meanwhile leaves only ``.part`` folders, never served and swept by the next load, which prepares
the entries again. A failure of a thread is raised (:class:`BackgroundWriteError`) from the next batch of every
loader over its entries and from :func:`wait_for_store_writes`; a store that cannot be written (read-only, full)
is a warning, as for a blocking load. The threads run at the lowest CPU priority (the batches come first) and
are not daemons: a process that ends normally waits for its entries (before ``concurrent.futures`` stops the
store's hashing threads at exit). DataLoader workers and ``prepare()`` (a strict preparation) keep the blocking
path.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import mmap
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openretina_core import OpenRetinaDataError

logger = logging.getLogger(__name__)

_ACTIVE: list[BackgroundWrite] = []
_ACTIVE_LOCK = threading.Lock()


class BackgroundWriteError(OpenRetinaDataError, RuntimeError):
    """Writing a prepared entry in the background failed (the batches served so far are correct: they come
    from the movie in memory; the entry was not committed and the next load prepares it again)."""


class _AbsentError(Exception):
    """Raised by the probe's build: the entry does not exist (nothing is written)."""

    def __init__(self, writer: Any) -> None:
        super().__init__("no entry")
        self.strict = not writer.memory_fallback
        self.writable = not writer.in_memory


class BackgroundWrite:
    """``write()`` run once in a non-daemon thread (in a copy of the caller's context); ``check()`` raises its
    failure, ``wait()`` waits for it and raises its failure."""

    def __init__(self, name: str, write: Callable[[], object], nbytes: int = 0) -> None:
        self.name = name
        self.nbytes = int(nbytes)
        self.result: Any = None  # what write() returned
        self.error: BaseException | None = None
        self._write = write
        self._context = contextvars.copy_context()
        self._thread = threading.Thread(target=self._run, name=f"store-write-{name}", daemon=False)

    def start(self) -> BackgroundWrite:
        _wait_at_exit()
        with _ACTIVE_LOCK:
            _ACTIVE.append(self)
        self._thread.start()
        return self

    def _run(self) -> None:
        from openretina_core.store import StoreWriteError

        _lower_priority()
        try:
            self.result = self._context.run(self._write)
        except StoreWriteError as exc:  # as a blocking load does: kept in memory, with a warning
            logger.warning("%s; %s is served from memory and prepared again next time", exc, self.name)
        except BaseException as exc:  # raised to the user by check() / wait()
            self.error = exc
            logger.error("writing the prepared entry %s in the background failed: %r", self.name, exc)
        if self.error is None:  # a failure stays listed until wait_for_store_writes reports it
            with _ACTIVE_LOCK:
                if self in _ACTIVE:
                    _ACTIVE.remove(self)

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def check(self) -> None:
        """Raise the thread's failure, if it failed (cheap: one attribute read otherwise)."""
        if self.error is not None:
            raise BackgroundWriteError(
                f"writing the prepared entry {self.name} in the background failed "
                f"({type(self.error).__name__}: {self.error}); the batches served so far came from memory and "
                f"are correct, but the entry was not committed (the next load prepares it again)"
            ) from self.error

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the write (at most ``timeout`` seconds); raise its failure. Whether it has finished."""
        self._thread.join(timeout)
        self.check()
        return self.done


def wait_for_store_writes(timeout: float | None = None) -> None:
    """Wait until every prepared entry this process writes in the background is committed; raises the first
    failure (e.g. before timing a second load, or before a job ends on purpose)."""
    with _ACTIVE_LOCK:
        writes = list(_ACTIVE)
    for write in writes:
        write._thread.join(timeout)
    failed = [write for write in writes if write.error is not None]
    with _ACTIVE_LOCK:
        for write in failed:
            if write in _ACTIVE:
                _ACTIVE.remove(write)
    for write in failed:
        write.check()


def _lower_priority() -> None:
    """Run this thread (and the threads it starts, which inherit it) at the lowest CPU priority, so on a busy
    machine the batches being served come first: on 2 shared cores the first epoch took 71 ms per batch beside
    the write at the same priority."""
    with contextlib.suppress(AttributeError, OSError):  # Linux: a thread id sets that thread's priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


_EXIT_HOOKED = False


def _wait_at_exit() -> None:
    """At interpreter exit, wait for the writes before ``concurrent.futures`` refuses new work (its exit hook,
    registered through the same list, stops the executors the store's writer hashes with; hooks run last
    registered first). A failure is logged by the thread."""
    global _EXIT_HOOKED
    if _EXIT_HOOKED:
        return
    import concurrent.futures.thread  # noqa: F401  (registers its hook first, so ours runs before it)

    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - Python < 3.9
        import atexit

        register = atexit.register
    register(_join_all)
    _EXIT_HOOKED = True


def _join_all() -> None:
    with _ACTIVE_LOCK:
        writes = list(_ACTIVE)
    for write in writes:
        write._thread.join()


def anonymous_array(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A zero-filled array of memory mapped from the kernel in 4 KB pages. numpy asks for transparent huge
    pages for large arrays, and first touching those cost 2.2 s/GB on the project's VMs (compaction on the
    fault) against 0.45 s/GB for 4 KB pages: 2.5 s -> 0.5 s for session 01's 1.14 GB movie."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if nbytes == 0:
        return np.empty(shape, dtype)
    buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


def probe_entry(
    dataset_id: str, name: str, params: dict[str, Any], sources: Sequence[Path], version: str | int
) -> tuple[Any, bool, bool]:
    """``(entry or None, strict, writable)``: the committed entry for these parameters if it exists (mapped),
    else None with whether this is a strict preparation (``prepare()``) and whether the store can be written."""
    from openretina_core.store import prepare_entry

    def build(writer: Any) -> None:
        raise _AbsentError(writer)

    try:
        return (
            prepare_entry(
                dataset_id, name, params=params, sources=list(sources), build=build, version=version
            ),
            False,
            True,
        )
    except _AbsentError as absent:
        return None, absent.strict, absent.writable
