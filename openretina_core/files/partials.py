"""Partial downloads: process-unique temporary names, and adopting what a dead process left behind.

A partial file is named ``<file name>~<host>-<pid>-<random>.part`` under ``.openretina/partial/``. Only
the process that created it writes to it; it reaches its final name only by an atomic rename after
verification, so a partial is never taken for a complete file. A later download may *adopt* (rename to its
own name, atomically, so at most one process wins) a partial whose writer is gone: the same host and a
dead pid, the same process after an earlier failed call, or another host's partial untouched for
``OPENRETINA_STALE_PARTIAL_S`` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

from openretina_core.files.cache import partial_dir
from openretina_core.files.hosts import check_relative_path

logger = logging.getLogger(__name__)

STALE_ENV = "OPENRETINA_STALE_PARTIAL_S"
DEFAULT_STALE_S = 900.0

_active: set[str] = set()
_active_lock = threading.Lock()


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname() or "host")


def _token() -> str:
    return f"{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _parse(path: Path) -> tuple[str, str, int] | None:
    """(base name, host, pid) of a partial file name, or None when it is not one of ours."""
    name = path.name
    if not name.endswith(".part"):
        return None
    base, sep, token = name[: -len(".part")].rpartition("~")
    parts = token.rsplit("-", 2)
    if not sep or len(parts) != 3 or not parts[1].isdigit():
        return None
    return base, parts[0], int(parts[1])


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_after_s() -> float:
    try:
        return float(os.environ.get(STALE_ENV, DEFAULT_STALE_S))
    except ValueError:
        return DEFAULT_STALE_S


def is_abandoned(path: Path) -> bool:
    """Whether nobody is writing ``path`` any more (so it may be adopted or deleted)."""
    parsed = _parse(path)
    if parsed is None:
        return False
    with _active_lock:
        if str(path) in _active:
            return False
    _, host, pid = parsed
    if host == _host():
        return pid == os.getpid() or not _pid_alive(pid)
    try:
        return time.time() - path.stat().st_mtime > stale_after_s()
    except FileNotFoundError:
        return False


def partials_for(root: Path, relative_path: str) -> list[Path]:
    """Every partial of one file, biggest first."""
    rel = check_relative_path(relative_path)
    folder = partial_dir(root) / rel.parent
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        parsed = _parse(path)
        if parsed is not None and parsed[0] == rel.name:
            try:
                found.append((path.stat().st_size, path))
            except FileNotFoundError:
                continue
    return [p for _, p in sorted(found, key=lambda item: (-item[0], item[1].name))]


def progress_signature(root: Path, relative_path: str) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and mtimes of a file's partials: changes while some process is downloading it."""
    sig = []
    for path in partials_for(root, relative_path):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        sig.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(sig)


def meta_of(partial: Path) -> Path:
    """The sidecar holding the URL and validator a partial was fetched with."""
    return partial.with_name(partial.name + ".json")


def claim(root: Path, relative_path: str, *, adopt: bool = True) -> Path:
    """A fresh process-unique partial name for this file (with an abandoned partial's bytes if ``adopt``)."""
    rel = check_relative_path(relative_path)
    mine = partial_dir(root) / rel.parent / f"{rel.name}~{_token()}.part"
    mine.parent.mkdir(parents=True, exist_ok=True)
    if adopt:
        for candidate in partials_for(root, relative_path):
            if not is_abandoned(candidate):
                continue
            try:
                os.rename(candidate, mine)  # atomic: if two processes race, one gets FileNotFoundError
            except FileNotFoundError:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.rename(meta_of(candidate), meta_of(mine))
            logger.info("adopting partial download %s (%d bytes)", candidate.name, mine.stat().st_size)
            break
    with _active_lock:
        _active.add(str(mine))
    return mine


def release(partial: Path, *, delete: bool) -> None:
    """Stop writing ``partial``; delete it (and its sidecar) or leave it for a later resume."""
    with _active_lock:
        _active.discard(str(partial))
    if delete:
        partial.unlink(missing_ok=True)
        meta_of(partial).unlink(missing_ok=True)


def sweep(root: Path, relative_path: str) -> None:
    """Delete abandoned partials of a file that is now complete."""
    for path in partials_for(root, relative_path):
        if is_abandoned(path):
            path.unlink(missing_ok=True)
            meta_of(path).unlink(missing_ok=True)


def partial_beside(target: Path) -> Path:
    """A process-unique partial name next to ``target`` (for files written in place, not downloaded): a
    process killed while writing leaves it for :func:`sweep_beside` to delete."""
    return target.with_name(f"{target.name}~{_token()}.part")


def sweep_beside(folder: Path) -> int:
    """Delete the abandoned partials directly in ``folder`` (their writer is dead); how many were deleted."""
    swept = 0
    for path in folder.glob("*.part") if folder.is_dir() else ():
        if is_abandoned(path):
            with contextlib.suppress(OSError):  # a read-only cache: left for a later, writable load
                path.unlink(missing_ok=True)
                swept += 1
    return swept
