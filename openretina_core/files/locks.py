"""Per-file locks that save bandwidth only: correctness comes from unique partial names and atomic renames.

A waiting process gives up the lock (and proceeds on its own, which stays correct) when the filesystem has no
working locks (some NFS/Lustre mounts), or when the holder shows no progress for ``OPENRETINA_LOCK_STALL_S``
seconds (default 300).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from openretina_core.files.cache import meta_path, partial_dir

logger = logging.getLogger(__name__)

LOCK_STALL_ENV = "OPENRETINA_LOCK_STALL_S"


def _stall_s() -> float:
    try:
        return float(os.environ.get(LOCK_STALL_ENV, 300))
    except ValueError:
        return 300.0


@contextmanager
def file_lock(root: Path, name: str, suffix: str, watch: Callable[[], Any]) -> Iterator[bool]:
    """Hold the per-file lock while it can be had; yields whether it is held.

    Gives up (and proceeds unlocked, which stays correct) when the filesystem has no working locks, or when
    the holder shows no progress (``watch()`` unchanged) for ``OPENRETINA_LOCK_STALL_S`` seconds.
    """
    from filelock import FileLock, Timeout

    path = meta_path(root, "locks", name, suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    stall, acquired, waiting = _stall_s(), False, False
    signature, changed = watch(), time.monotonic()
    while True:
        try:
            lock.acquire(timeout=min(1.0, stall))
            acquired = True
            break
        except Timeout:
            if not waiting:
                logger.info("waiting for another process working on %s", name)
                waiting = True
            now = watch()
            if now != signature:
                signature, changed = now, time.monotonic()
            elif time.monotonic() - changed > stall:
                logger.warning(
                    "no progress on %s by the lock holder for %.0f s; proceeding without the lock",
                    name,
                    stall,
                )
                break
        except OSError as exc:
            logger.warning(
                "file locks do not work at %s (%s); proceeding without (safe, may re-download)", path, exc
            )
            break
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


def extraction_signature(root: Path, folder_name: str) -> tuple[int, int]:
    """File count and bytes of the extractions in progress for ``folder_name`` (grows while one runs)."""
    count = total = 0
    work = partial_dir(root) / Path(folder_name).parent
    if not work.is_dir():
        return count, total
    for entry in work.glob(f"{Path(folder_name).name}~*.extract"):
        for dirpath, _, files in os.walk(entry):
            for name in files:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_size
                except OSError:  # renamed into place meanwhile
                    continue
                count += 1
    return count, total
