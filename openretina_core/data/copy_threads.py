"""How many intra-op threads a batch copy uses: chosen per copy size by measuring, so batch assembly keeps its
speed when other processes hold cores.

Measured on the project's 2-core machine (benchmarks/README.md, "Batch assembly under contention"): with both
cores free, a two-thread ``index_select`` of a batch is ~1.5x faster than one thread at every batch size we
make (0.35 to 16 MB); with one core taken by another process, the two-thread copy is 2-3x *slower* than one
thread at every size (the parallel region waits for the thread that shares its core). No fixed size threshold
is right in both cases, so :data:`COPY_THREADS` measures: per size class (powers of two of the bytes copied) it
keeps the recent time per byte with one thread and with the caller's thread count and uses the faster. It tries
the other every ``explore_every`` copies of that class, or more rarely when the other is much slower (trying
spends at most ``explore_budget`` of the copy time; at most every ``explore_most`` copies), and tries one
thread at once when several threads in use suddenly slow down. With both cores taken (more runnable threads
than cores), two-thread copies were 27-290x slower than one thread, but now and then as fast as on a free
machine, and one-thread copies are preempted now and then: the spacing of tries uses the smoothed time of
every try, and one sample moves the estimate of the count in use at most 1.5x.
Copies below ``small_bytes`` always use one thread (a parallel region costs more than it saves there). While
a copy's thread count matters, whether other processes hold cores is read every 2 ms from the kernel's count of
runnable tasks (:mod:`.core_probe`), and the estimates are kept apart for the two states (cores free, cores
taken): when a competing job starts or stops, the next copy uses what was measured under that load before (at
first: the caller's count with cores free, one thread with them taken) instead of waiting for a try to overturn
estimates made under the other load. While the probe sees the cores taken, tries of several threads are 2048
copies apart (issue 18: the load changing every epoch cost Hoefling-sized epochs 30 % in such tries and stalls).
Before this probe, CPU-time counters read every 50 ms took 50-100 ms to see a freed core, half of a
Hoefling-sized epoch (benchmarks/README.md).

Only the copy runs with the chosen count: the caller's ``torch.get_num_threads()`` is restored right after
(``torch.set_num_threads`` costs well under a microsecond). Nothing changes off the CPU, where the caller has
already set one thread (e.g. inside DataLoader workers, where torch sets one thread), or where ``enabled`` is
False. Under ``torchrun`` the copies use at most ``cores // LOCAL_WORLD_SIZE`` threads, so ranks on one
machine do not oversubscribe it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import torch

from .core_probe import ForeignLoad

T = TypeVar("T")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def rank_thread_cap() -> int:
    """Threads one process may use for copies: the cores shared out among ``torchrun``'s local ranks."""
    ranks = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(1, available_cores() // ranks)


class CopyThreads:
    """The thread policy of batch copies (see the module docstring); one instance, :data:`COPY_THREADS`."""

    def __init__(
        self,
        small_bytes: int = 64 * 1024,
        explore_every: int = 32,
        explore_budget: float = 0.05,
        explore_most: int = 2048,
        slowdown: float = 1.6,
    ) -> None:
        self.small_bytes = small_bytes
        self.explore_every = (
            explore_every  # copies of one size class between tries of the other count, at least
        )
        self.explore_budget = explore_budget
        self.explore_most = explore_most  # ... and at most this many (a freed core is found within them)
        self.slowdown = slowdown  # the arm in use this much slower than its estimate: try the other at once
        self.enabled = True
        # Whether other processes leave room for several threads, read every few ms (see the module docstring).
        self._probe = ForeignLoad()
        # (cores free, size class) -> [copies since the last try, {threads: seconds per byte},
        # {threads: smoothed over tries}]: kept apart per state of the probe, so that a change of load selects
        # the estimates measured under that load instead of waiting for tries to overturn the old ones
        self._classes: dict[tuple[bool, int], list] = {}
        self._cap: int | None = None
        self._cores = 1
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._classes.clear()
            self._cap = None
            self._probe.close()
            self._probe = ForeignLoad()

    def threads_for(self, nbytes: int, caller: int) -> int:
        """The thread count the next copy of ``nbytes`` uses, given the caller's setting."""
        if self._cap is None:
            self._cap, self._cores = rank_thread_cap(), available_cores()
        most = min(caller, self._cap)
        if most <= 1 or nbytes < self.small_bytes:
            return 1
        free = self._probe.free
        entry = self._classes.get((free, nbytes.bit_length()))
        first, second = (most, 1) if free else (1, most)  # with cores taken, one thread is the first guess
        if entry is None:
            return first
        since, estimates = entry[0], entry[1]
        if first not in estimates:
            return first
        if second not in estimates:
            return second
        best, other = (1, most) if estimates[1] <= estimates[most] else (most, 1)
        # Trying the slower count costs (its time / the best's time) copies' worth: spaced so that trying
        # spends at most ``explore_budget`` of the copy time (with both cores taken, two threads can be 50-150x
        # slower). The spacing uses the smoothed time of every try, not the last one: there, two-thread copies
        # are now and then as fast as on a free machine, and one such copy must not bring on frequent tries.
        slower = entry[2].get(other, estimates[other]) / estimates[best]
        interval = min(self.explore_most, max(self.explore_every, int(slower / self.explore_budget)))
        if best == 1 and self._probe.works and not self._probe.free:
            # One thread in use and the probe sees the cores taken: a freed core is seen by the probe, so the
            # scheduled tries are only the fallback. Under load one try of several threads can wait a
            # scheduler slice (several ms, tens of copies' worth, more than its smoothed estimate says).
            interval = self.explore_most
        if since >= interval:
            entry[0] = 0
            return other
        return best

    def record(self, nbytes: int, threads: int, seconds: float, caller: int) -> None:
        """Fold one timed copy into the estimate of its size class."""
        if nbytes < self.small_bytes or nbytes <= 0:
            return
        key = (self._probe.free, nbytes.bit_length())
        per_byte = seconds / nbytes
        with self._lock:
            entry = self._classes.setdefault(key, [0, {}, {}])
            entry[0] += 1
            estimates: dict[int, float] = entry[1]
            smoothed: dict[int, float] = entry[2]
            smoothed[threads] = 0.5 * smoothed.get(threads, per_byte) + 0.5 * per_byte
            most = min(caller, self._cap or 1)
            other = most if threads == 1 else 1
            previous = estimates.get(threads)
            in_use = previous is not None and (other not in estimates or previous <= estimates[other])
            if previous is None or not in_use:
                estimates[threads] = per_byte  # a tried count: its old estimate is stale by definition
            else:
                # a copy preempted now and then (more runnable threads than cores) must not make the count in
                # use look slow, or tries of the other come too often: one sample moves it at most 1.5x
                estimates[threads] = 0.5 * previous + 0.5 * min(per_byte, 2 * previous)
                slowed = per_byte > self.slowdown * previous
                if threads > 1 and slowed and other in estimates and estimates[threads] <= estimates[other]:
                    # several threads in use suddenly slow (a core was taken): one thread is the safe
                    # direction, so try it on the next copy (a slow single thread is not helped by more);
                    # where the update already made one thread the faster, it is used anyway
                    entry[0] = 1 << 30

    def run(self, nbytes: int, device: torch.device, copy: Callable[[], T]) -> T:
        """``copy()`` with the thread count chosen for ``nbytes``, timed into the estimates."""
        if not self.enabled or device.type != "cpu":
            return copy()
        caller = torch.get_num_threads()
        if caller <= 1:
            return copy()
        threads = self.threads_for(nbytes, caller)
        most = min(caller, self._cap or 1)
        if nbytes >= self.small_bytes and most > 1:
            room = self._cores - most  # other processes' runnable tasks that leave room for ``most`` threads
            if self._probe.look(time.perf_counter(), room) is not None:
                threads = self.threads_for(nbytes, caller)  # the estimates of the new state decide
        if threads != caller:
            torch.set_num_threads(threads)
        try:
            start = time.perf_counter()
            result = copy()
            elapsed = time.perf_counter() - start
        finally:
            if threads != caller:
                torch.set_num_threads(caller)
        self.record(nbytes, threads, elapsed, caller)
        return result


COPY_THREADS = CopyThreads()
# Decoding compact batches (subtract, divide) has its own estimates: its time per byte is not a copy's, and
# mixing the two in one size class would bias the comparison of thread counts.
DECODE_THREADS = CopyThreads()
