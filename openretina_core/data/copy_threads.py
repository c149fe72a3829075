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
a copy's thread count matters, the machine's CPU time (``/proc/stat``) is read every 50 ms: when a core goes
idle while one thread is in use, the other count is tried on the next copy (after a competing job stops, the
scheduled try could be thousands of copies away); when other processes take a core while several threads are
in use, one thread is chosen before a copy stalls (a two-thread copy then waits for a scheduler slice, tens
of copies' worth). With the probe working, tries of several threads while one is in use are 2048 copies
apart (issue 18: the load changing every epoch cost Hoefling-sized epochs 30 % in such tries and stalls).

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


def cpu_jiffies() -> tuple[int, int] | None:
    """``(idle, busy)`` time of the whole machine so far, in clock ticks (``/proc/stat``: idle + iowait, and
    user + nice + system + irq + softirq + steal); None where there is no ``/proc/stat``."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]
    return idle, sum(fields) - idle


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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
        # While one thread is in use: every ``probe_seconds`` the machine's idle cores are read; when they go
        # from fewer than ``idle_cores`` to at least that (a core was freed), the other count is tried at once
        # instead of at the next scheduled try (which can be 2048 copies away after a slow try).
        self.probe_seconds = 0.05  # five clock ticks per idle core: /proc/stat counts in 10 ms ticks
        self.idle_cores = 0.75
        # ... and while several threads are in use, other processes taking a core (their busy time: the
        # machine's less this process's) makes one thread the choice at once, before a copy stalls on it.
        self._probe: tuple[float, int, int, float] | None = None
        self._idle, self._taken = True, False
        # size class -> [copies since the last try, {threads: seconds per byte}, {threads: smoothed over tries}]
        self._classes: dict[int, list] = {}
        self._cap: int | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._classes.clear()
            self._cap = None
            self._probe, self._idle, self._taken = None, True, False

    def threads_for(self, nbytes: int, caller: int) -> int:
        """The thread count the next copy of ``nbytes`` uses, given the caller's setting."""
        if self._cap is None:
            self._cap = rank_thread_cap()
        most = min(caller, self._cap)
        if most <= 1 or nbytes < self.small_bytes:
            return 1
        entry = self._classes.get(nbytes.bit_length())
        if entry is None:
            return most
        since, estimates = entry[0], entry[1]
        if most not in estimates:
            return most
        if 1 not in estimates:
            return 1
        best, other = (1, most) if estimates[1] <= estimates[most] else (most, 1)
        # Trying the slower count costs (its time / the best's time) copies' worth: spaced so that trying
        # spends at most ``explore_budget`` of the copy time (with both cores taken, two threads can be 50-150x
        # slower). The spacing uses the smoothed time of every try, not the last one: there, two-thread copies
        # are now and then as fast as on a free machine, and one such copy must not bring on frequent tries.
        slower = entry[2].get(other, estimates[other]) / estimates[best]
        interval = min(self.explore_most, max(self.explore_every, int(slower / self.explore_budget)))
        if best == 1 and self._probe is not None:
            # One thread in use and the idle probe works: a freed core is seen by the probe, so the scheduled
            # tries are only the fallback. Under load one try of several threads can wait a scheduler slice
            # (several ms, tens of copies' worth, more than its smoothed estimate says).
            interval = self.explore_most
        if since >= interval:
            entry[0] = 0
            return other
        return best

    def record(self, nbytes: int, threads: int, seconds: float, caller: int) -> None:
        """Fold one timed copy into the estimate of its size class."""
        if nbytes < self.small_bytes or nbytes <= 0:
            return
        key = nbytes.bit_length()
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
            change = self._look(time.perf_counter(), most)
            if change == "freed" and threads == 1:
                with self._lock:
                    for entry in self._classes.values():
                        entry[0] = 1 << 30  # every size class tries its other count on its next copy
                threads = self.threads_for(nbytes, caller)
            elif change == "taken" and threads > 1:
                with self._lock:
                    for entry in self._classes.values():
                        estimates = entry[1]
                        if 1 in estimates and most in estimates:  # one thread is presumed the faster now
                            estimates[most] = max(estimates[most], 1.01 * estimates[1])
                threads = self.threads_for(nbytes, caller)
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

    def _look(self, now: float, most: int) -> str | None:
        """``"freed"`` when the machine's idle cores rose to ``idle_cores`` since the last look, ``"taken"``
        when other processes came to keep ``idle_cores`` of a core busy beyond what ``most`` threads leave
        them, else None. Looks at most every ``probe_seconds``; a look after a long pause only restarts."""
        probe = self._probe
        if probe is not None and now - probe[0] < self.probe_seconds:
            return None
        ticks = cpu_jiffies()
        if ticks is None:
            self.probe_seconds = float("inf")
            return None
        own = time.process_time()
        self._probe = (now, ticks[0], ticks[1], own)
        if probe is None or now - probe[0] > 10 * self.probe_seconds:
            return None
        span = now - probe[0]
        idle = (ticks[0] - probe[1]) / _TICK / span
        others = (ticks[1] - probe[2]) / _TICK / span - (own - probe[3]) / span
        idle_now = idle >= self.idle_cores
        taken_now = others >= available_cores() - most + self.idle_cores
        change = None
        if idle_now and not self._idle:
            change = "freed"
        elif taken_now and not self._taken:
            change = "taken"
        self._idle, self._taken = idle_now, taken_now
        return change


COPY_THREADS = CopyThreads()
# Decoding compact batches (subtract, divide) has its own estimates: its time per byte is not a copy's, and
# mixing the two in one size class would bias the comparison of thread counts.
DECODE_THREADS = CopyThreads()
