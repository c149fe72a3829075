"""A folder's file list from the Hugging Face tree API, cached in the dataset's folder for offline use.

``GET {endpoint}/api/{repo_type}s/{repo_id}/tree/{revision}/{path}?recursive=true`` answers a JSON list of entries
(``type`` ``file`` or ``directory``, ``path`` from the repository root, ``size``, ``oid``, and for LFS files
``lfs: {oid, size}`` where ``lfs.oid`` is the file's sha256); further pages are named by a ``Link: <url>;
rel="next"`` header. Each successful listing is written atomically to
``<cache>/<dataset id>/.openretina/listings/<key>.json``. When the hub is not to be asked (``HF_HUB_OFFLINE``,
``OPENRETINA_OFFLINE``) or fails, the cached listing is used with a warning that it may be stale.

The cached LFS sha256 of a file is also the hash its download is checked against when no hash is declared or
recorded (:func:`listed_entry`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import socket
import time
import urllib.error
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from attrs import asdict, define, evolve

from openretina_core.files import hub
from openretina_core.files.cache import META_DIR, dataset_cache_dir, read_json, write_json_atomic
from openretina_core.files.fetch import (
    BACKOFF_ENV,
    RETRIES_ENV,
    TIMEOUT_ENV,
    TRANSIENT_STATUS,
    USER_AGENT,
    _env_number,
    hub_opener,
    hub_request,
)
from openretina_core.registry.errors import OpenRetinaDataError

logger = logging.getLogger(__name__)

LISTINGS_DIR = "listings"
MAX_PAGES = 10_000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REPO_PREFIX = {"datasets": "dataset", "spaces": "space"}


class ListingError(OpenRetinaDataError, ConnectionError):
    """A folder's listing could not be fetched from the hub and none is cached."""


class _RetryError(Exception):
    """A transient failure of one page (retried)."""


@define(frozen=True)
class TreeEntry:
    """One entry of a listing: its path from the repository root, ``file`` or ``directory``, and for files the
    size and (LFS files only) the sha256 the hub publishes."""

    path: str
    kind: str
    size: int | None = None
    sha256: str | None = None


@define(frozen=True)
class TreeListing:
    """The entries under ``path`` of a repository at ``revision``, when they were fetched, and whether they come
    from the cache (``stale_reason`` says why the hub was not asked or failed)."""

    repo_id: str
    repo_type: str
    revision: str
    path: str
    recursive: bool
    entries: tuple[TreeEntry, ...]
    fetched_at: float
    from_cache: bool = False
    stale_reason: str = ""

    def files(self) -> list[TreeEntry]:
        return [e for e in self.entries if e.kind == "file"]

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.fetched_at))
        where = f"the Hugging Face listing of {self.repo_id}/{self.path}"
        if not self.from_cache:
            return f"{where} (fetched now)"
        stale = f"; may be stale: {self.stale_reason}" if self.stale_reason else ""
        return f"{where} (cached {when}{stale})"


def tree_url(repo_id: str, path: str, *, revision: str, repo_type: str, recursive: bool) -> str:
    """The tree API URL of ``path`` on the hub's endpoint (``HF_ENDPOINT`` / ``OPENRETINA_HF_URL`` honoured)."""
    folder = f"/{quote(path.strip('/'))}" if path.strip("/") else ""
    query = "?recursive=true" if recursive else ""
    return f"{hub.hub_endpoint()}/api/{repo_type}s/{repo_id}/tree/{quote(revision, safe='')}{folder}{query}"


def next_link(value: str | None) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header (the GitHub format the hub uses), if any."""
    for part in (value or "").split(","):
        match = re.match(r"\s*<([^>]*)>\s*;(.*)", part)
        if match and re.search(r'rel\s*=\s*"?next"?', match.group(2)):
            return match.group(1)
    return None


def _entry(item: Any, url: str) -> TreeEntry:
    if not isinstance(item, dict) or not isinstance(item.get("path"), str):
        raise ListingError(
            f"{url}: unexpected entry {item!r} in the listing (expected objects with a 'path')"
        )
    kind = "file" if item.get("type") == "file" else "directory"
    lfs: dict[str, Any] = item["lfs"] if isinstance(item.get("lfs"), dict) else {}
    size = item.get("size") if isinstance(item.get("size"), int) else lfs.get("size")
    oid = str(lfs.get("oid") or "").lower()
    return TreeEntry(
        item["path"], kind, size if kind == "file" else None, oid if _SHA256.match(oid) else None
    )


def _get_page(url: str) -> tuple[list[TreeEntry], str | None]:
    request = hub_request(url, {"Accept": "application/json", "User-Agent": USER_AGENT})
    try:
        with hub_opener().open(request, timeout=_env_number(TIMEOUT_ENV, 60.0)) as response:
            body = response.read()
            link = response.headers.get("Link")
            final = response.geturl()
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in TRANSIENT_STATUS:
            raise _RetryError(f"HTTP {exc.code} {exc.reason}") from exc
        if exc.code in (401, 403) and hub.on_hub_origin(exc.geturl() or url):
            raise ListingError(f"{url}: {hub.auth_hint(exc.code)}") from exc
        raise ListingError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, socket.gaierror):
            raise ListingError(f"{url}: cannot resolve the host ({reason}); offline?") from exc
        raise _RetryError(f"connection failed: {reason}") from exc
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ListingError(
            f"{url}: the answer is not JSON ({exc}); is this a Hugging Face endpoint?"
        ) from exc
    if not isinstance(data, list):
        raise ListingError(f"{url}: expected a JSON list of entries, got {type(data).__name__}")
    following = next_link(link)
    return [_entry(item, url) for item in data], urljoin(final, following) if following else None


def fetch_tree(
    repo_id: str, path: str, *, revision: str = "main", repo_type: str = "dataset", recursive: bool = True
) -> tuple[TreeEntry, ...]:
    """Every entry under ``path``, following the pages; transient failures are retried with back-off
    (``OPENRETINA_DOWNLOAD_RETRIES``, ``OPENRETINA_RETRY_BACKOFF_S``). Raises :class:`ListingError`."""
    url: str | None = tree_url(repo_id, path, revision=revision, repo_type=repo_type, recursive=recursive)
    attempts = max(1, int(_env_number(RETRIES_ENV, 5)))
    backoff = _env_number(BACKOFF_ENV, 1.0)
    entries: list[TreeEntry] = []
    pages = 0
    while url is not None:
        pages += 1
        if pages > MAX_PAGES:
            raise ListingError(f"{url}: more than {MAX_PAGES} pages; the listing does not end")
        for attempt in range(attempts):
            try:
                page, following = _get_page(url)
                break
            except _RetryError as exc:
                if attempt + 1 == attempts:
                    raise ListingError(
                        f"{url}: gave up after {attempts} attempts; last error: {exc}"
                    ) from exc
                time.sleep(backoff * 2**attempt)
        entries.extend(page)
        url = following
    return tuple(entries)


def _cache_file(dataset_id: str, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return dataset_cache_dir(dataset_id) / META_DIR / LISTINGS_DIR / f"{digest}.json"


def _from_json(data: Any) -> TreeListing | None:
    try:
        entries = tuple(TreeEntry(**e) for e in data["entries"])
        fields = {k: data[k] for k in ("repo_id", "repo_type", "revision", "path", "recursive", "fetched_at")}
        return TreeListing(entries=entries, from_cache=True, **fields)
    except (KeyError, TypeError) as exc:
        logger.warning("ignoring a malformed cached listing (%s)", exc)
        return None


def cached_listing(
    dataset_id: str,
    repo_id: str,
    path: str,
    *,
    revision: str = "main",
    repo_type: str = "dataset",
    recursive: bool = True,
) -> TreeListing | None:
    """The listing cached by the last successful :func:`list_tree` call, or None."""
    key = {
        "repo_id": repo_id,
        "repo_type": repo_type,
        "revision": revision,
        "path": path,
        "recursive": recursive,
    }
    data = read_json(_cache_file(dataset_id, key))
    return _from_json(data) if isinstance(data, dict) else None


def list_tree(
    dataset_id: str,
    repo_id: str,
    path: str,
    *,
    revision: str = "main",
    repo_type: str = "dataset",
    recursive: bool = True,
    refresh: bool = True,
) -> TreeListing:
    """The listing of ``path``: from the hub when ``refresh`` (or nothing is cached), else the cached one.

    Offline (``HF_HUB_OFFLINE``/``OPENRETINA_OFFLINE``) the hub is not asked at all. Offline or when the hub fails,
    a cached listing is returned with a warning that it may be stale; without one :class:`ListingError` is raised.
    """
    key = {
        "repo_id": repo_id,
        "repo_type": repo_type,
        "revision": revision,
        "path": path,
        "recursive": recursive,
    }
    cached = cached_listing(
        dataset_id, repo_id, path, revision=revision, repo_type=repo_type, recursive=recursive
    )
    if cached is not None and not refresh:
        return cached
    where = f"{repo_id}/{path} ({repo_type}, revision {revision})"
    if hub.hub_offline():
        problem = f"{hub.offline_reason()} forbids asking the hub"
        if cached is None:
            raise ListingError(f"no listing of {where} is cached and {problem}")
        return _stale(cached, problem)
    try:
        entries = fetch_tree(repo_id, path, revision=revision, repo_type=repo_type, recursive=recursive)
    except ListingError as exc:
        if cached is None:
            raise
        return _stale(cached, str(exc))
    listing = TreeListing(repo_id, repo_type, revision, path, recursive, entries, time.time())
    record = {**key, "fetched_at": listing.fetched_at, "entries": [asdict(e) for e in entries]}
    try:
        write_json_atomic(_cache_file(dataset_id, key), record)
    except OSError as exc:
        logger.warning("could not cache the listing of %s (%s); offline use will not find it", where, exc)
    return listing


def _stale(cached: TreeListing, reason: str) -> TreeListing:
    listing = evolve(cached, stale_reason=reason)
    logger.warning("using %s instead of the hub's current one", listing.describe())
    return listing


def split_hub_url(url: str) -> tuple[str, str, str, str] | None:
    """``(repo_type, repo_id, revision, path)`` of a Hugging Face ``.../resolve/<revision>/<path>`` URL."""
    if not hub.is_hub_url(url):
        return None
    parts = [unquote(p) for p in urlsplit(url).path.strip("/").split("/")]
    repo_type = _REPO_PREFIX.get(parts[0], "model") if parts else "model"
    if parts and parts[0] in _REPO_PREFIX:
        parts = parts[1:]
    if len(parts) < 5 or parts[2] != "resolve":
        return None
    return repo_type, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])


def listed_entry(dataset_id: str, urls: tuple[str, ...] | list[str]) -> TreeEntry | None:
    """The cached listing's entry for the first of ``urls`` that a listing of this dataset covers (its LFS
    sha256 and size), or None. Reads only the cache."""
    folder = dataset_cache_dir(dataset_id) / META_DIR / LISTINGS_DIR
    if not folder.is_dir():
        return None
    raw = [read_json(p) for p in sorted(folder.glob("*.json"))]
    listings = [_from_json(data) for data in raw if isinstance(data, dict)]
    for url in urls:
        split = split_hub_url(url)
        if split is None:
            continue
        repo_type, repo_id, revision, path = split
        for listing in listings:
            if listing is None or (listing.repo_type, listing.repo_id, listing.revision) != (
                repo_type,
                repo_id,
                revision,
            ):
                continue
            for entry in listing.entries:
                if entry.kind == "file" and entry.path == path:
                    return entry
    return None
