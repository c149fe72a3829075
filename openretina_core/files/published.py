"""A dataset's published file list, when it is longer than its card: the plugin lists it (e.g. from the mirror's
folder listing, :mod:`openretina_core.files.hub_tree`) and falls back to the names it knows.

A plugin registers a lister for its dataset id (``register_file_lister("karamanlis_2024",
"openretina_karamanlis_2024.sessions:published_files")``); ``download``, ``prepare_dataset`` and ``verify`` then
use :func:`listed_info` instead of the card's static ``files``. The lister is called with a mode:

* ``"cache"``: no network (a cached listing, else the known names) — loading without ``download``;
* ``"auto"``: the cached listing, else the hub's, else the known names — loading with ``download=True``;
* ``"refresh"``: the hub's listing, else the cached one (stale), else the known names — ``openretina-data download``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from attrs import define, evolve, field

from openretina_core.registry.lazy import LazyFunction
from openretina_core.registry.specs import DatasetInfo, RemoteFile

Mode = Literal["cache", "auto", "refresh"]
MODES = ("cache", "auto", "refresh")


logger = logging.getLogger(__name__)


def _files(value: Iterable[RemoteFile]) -> tuple[RemoteFile, ...]:
    return tuple(value)


def _frozen(value: Mapping[str, tuple[str, ...]] | None) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in (value or {}).items()}


@define(frozen=True)
class PublishedFiles:
    """The files to fetch, where that list came from (for the user), and optionally which files make up each
    session. ``complete`` is False when the list is a fallback (known names) rather than the host's listing."""

    files: tuple[RemoteFile, ...] = field(converter=_files)
    source: str
    sessions: Mapping[str, tuple[str, ...]] = field(factory=dict, converter=_frozen)
    complete: bool = True


FileLister = Callable[[str], PublishedFiles]
_LISTERS: dict[str, FileLister] = {}


def register_file_lister(dataset_id: str, lister: FileLister | str | None) -> None:
    """Make ``lister(mode)`` the source of ``dataset_id``'s file list (``"module:function"`` is imported on first
    use); ``None`` removes it."""
    if lister is None:
        _LISTERS.pop(dataset_id, None)
        return
    _LISTERS[dataset_id] = LazyFunction(lister) if isinstance(lister, str) else lister


def published_files(info: DatasetInfo, mode: Mode = "cache") -> PublishedFiles:
    """The dataset's current file list: its lister's, else the card's ``files``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    lister = _LISTERS.get(info.id)
    if lister is None:
        return PublishedFiles(info.files, "the dataset card")
    result = lister(mode)
    if not isinstance(result, PublishedFiles):
        raise TypeError(
            f"the file lister of {info.id!r} returned {type(result).__name__}, not PublishedFiles"
        )
    return result


def listed_info(info: DatasetInfo, mode: Mode = "cache") -> DatasetInfo:
    """``info`` with its ``files`` replaced by :func:`published_files` (unchanged without a lister)."""
    if info.id not in _LISTERS:
        return info
    return evolve(info, files=published_files(info, mode).files)


SessionFiles = tuple[tuple[RemoteFile, ...], dict[str, tuple[str, ...]]]


def files_from_mirror(
    dataset_id: str,
    repo_id: str,
    folder: str,
    *,
    revision: str,
    mode: str,
    parse: Callable[[Iterable[Any]], SessionFiles],
    fallback: Callable[[str], PublishedFiles],
    what: str = "published sessions",
) -> PublishedFiles:
    """What a plugin's lister returns, from the hub's listing of the mirror folder ``folder``: ``parse`` turns
    the listing's entries into ``(files, sessions)``; ``fallback(reason)`` answers when there is no listing
    (``mode="cache"`` and none cached, the hub unreachable) or it holds no session. Never raises: the modes
    are ``"cache"`` (no network), ``"auto"`` (the cached listing, else the hub) and ``"refresh"`` (the hub,
    else the cache)."""
    from openretina_core.files.hub_tree import ListingError, cached_listing, list_tree

    if mode == "cache":
        listing = cached_listing(dataset_id, repo_id, folder, revision=revision)
        if listing is None:
            return fallback("no listing of the mirror is cached")
    else:
        try:
            listing = list_tree(dataset_id, repo_id, folder, revision=revision, refresh=mode == "refresh")
        except ListingError as exc:
            logger.warning("%s: cannot list the %s (%s); using the plugin's fallback", dataset_id, what, exc)
            return fallback("the mirror's listing is not available")
    files, sessions = parse(listing.entries)
    if not files:
        logger.warning("%s: %s holds no session; using the plugin's fallback", dataset_id, listing.describe())
        return fallback("the mirror's listing holds no session")
    return PublishedFiles(files, listing.describe(), sessions)
