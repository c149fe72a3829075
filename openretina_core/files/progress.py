"""Progress bars for long work (downloads, hashing, extraction), with one off switch.

Bars are shown only on an interactive terminal and never when ``OPENRETINA_NO_PROGRESS=1``, so batch jobs and
CI logs stay clean.
"""

from __future__ import annotations

import os
import sys
from typing import Any

NO_PROGRESS_ENV = "OPENRETINA_NO_PROGRESS"


def progress_enabled() -> bool:
    """Whether to draw progress bars: not switched off, and stderr is a terminal."""
    if os.environ.get(NO_PROGRESS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def byte_bar(desc: str, total: int | None = None, initial: int = 0) -> Any:
    """A tqdm bar counting bytes (disabled per :func:`progress_enabled`)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not progress_enabled(),
        leave=False,
        file=sys.stderr,
    )
