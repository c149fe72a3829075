"""Locate a dataset's files: a user's folder, or the cache (downloading when asked).

This first version only resolves local folders and already-cached files; the download machinery (hosts,
mirrors, hashes, locks, resume, archives) extends ``fetch_dataset`` without changing its signature.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from openretina_core.info import DatasetInfo, RemoteFile

CACHE_ENV = "OPENRETINA_CACHE_DIR"


def cache_root() -> Path:
    """The cache directory: ``$OPENRETINA_CACHE_DIR`` or the platform's user cache folder."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("openretina"))


def dataset_cache_dir(dataset_id: str) -> Path:
    return cache_root() / dataset_id


def select_files(info: DatasetInfo, groups: Iterable[str] | None = None) -> list[RemoteFile]:
    wanted = set(groups) if groups is not None else None
    return [f for f in info.files if wanted is None or f.group is None or f.group in wanted]


def fetch_dataset(
    info: DatasetInfo,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    groups: Iterable[str] | None = None,
) -> Path:
    """Return the folder holding the dataset's files as published (archives extracted).

    With ``data_dir``, that folder is used as is (it must exist). Otherwise the files live in
    ``<cache>/<dataset id>/``; missing files are downloaded when ``download`` is true, and otherwise reported
    with the paths that were looked for.
    """
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"data_dir {str(path)!r} for dataset {info.id!r} does not exist")
        return path
    root = dataset_cache_dir(info.id)
    missing = []
    for remote in select_files(info, groups):
        target = root / (remote.extracted_dir if remote.extract else remote.relative_path)
        if not target.exists():
            missing.append(target)
    if missing:
        listing = "\n  ".join(str(m) for m in missing)
        raise FileNotFoundError(
            f"dataset {info.id!r} is not in the cache; missing:\n  {listing}\n"
            f"Pass download=True to fetch it, or data_dir= to point at a local copy."
        )
    return root
