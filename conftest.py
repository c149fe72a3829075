"""The whole test run (core and plugins) uses its own empty cache folder, so nothing a test prepares or
downloads reaches the user's cache. Session-scoped, so class- and module-scoped fixtures are covered too; a test
that needs a particular folder sets OPENRETINA_CACHE_DIR itself (monkeypatch restores this one)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_openretina_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    previous = os.environ.get("OPENRETINA_CACHE_DIR")
    os.environ["OPENRETINA_CACHE_DIR"] = str(tmp_path_factory.mktemp("openretina_cache"))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("OPENRETINA_CACHE_DIR", None)
        else:
            os.environ["OPENRETINA_CACHE_DIR"] = previous
