"""A test's download environment, apart from the user's: its own cache and hub home, no host overrides or
tokens inherited from the shell, quick retries, no progress bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Variables that send downloads elsewhere or authenticate them: a test starts without any of them.
HOST_VARIABLES = (
    "OPENRETINA_OFFLINE",
    "OPENRETINA_MIRROR_URL",
    "OPENRETINA_HF_URL",
    "OPENRETINA_GIN_URL",
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
    "HF_TOKEN",
    "HF_TOKEN_PATH",
    "XDG_CACHE_HOME",
)


def isolate_downloads(monkeypatch: Any, root: Path) -> Path:
    """Point the cache and ``HF_HOME`` into ``root`` (never the user's own token file), clear
    :data:`HOST_VARIABLES`, and make retries quick; ``monkeypatch`` is pytest's fixture (undone after the test).
    Returns ``root``."""
    for name in HOST_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("HF_HOME", str(root / "hf-home"))
    monkeypatch.setenv("OPENRETINA_RETRY_BACKOFF_S", "0")
    monkeypatch.setenv("OPENRETINA_DOWNLOAD_RETRIES", "2")
    monkeypatch.setenv("OPENRETINA_NO_PROGRESS", "1")
    return root
