"""The part of the Hugging Face hub's API the loopback server answers: the tree listing of what it serves.

Files served under ``/datasets/<owner>/<name>/resolve/<revision>/<path>`` (``/spaces/...`` likewise, models
without a prefix) are listed by ``GET /api/datasets/<owner>/<name>/tree/<revision>/<folder>[?recursive=true]``
as the hub lists them: ``type`` (``file``/``directory``), ``path`` from the repository root, ``size``, ``oid``
(the git blob id) and, for LFS files, ``lfs: {oid: sha256, size, pointerSize}``. Pages of ``page_size`` entries
are chained by a ``Link: <...&cursor=N>; rel="next"`` header.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, quote

_TREE = re.compile(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?$")


def is_hub_path(path: str) -> bool:
    """Paths that belong to the hub (its API and dataset/space files): the ones a gated repository guards."""
    return path.startswith(("/api/", "/datasets/", "/spaces/"))


def _resolve_prefix(kind: str, repo: str, revision: str) -> str:
    return f"/{repo}/resolve/{revision}/" if kind == "models" else f"/{kind}/{repo}/resolve/{revision}/"


def file_entry(
    path: str, data: bytes | None, headers: Mapping[str, str], lfs_min_size: int
) -> dict[str, Any]:
    """One file's entry; a redirected file (``data`` None) is described by its X-Linked-Size/-Etag headers."""
    if data is None:
        size = int(headers.get("X-Linked-Size", "0") or 0)
        sha256 = headers.get("X-Linked-Etag", "").strip('"') or None
    else:
        size, sha256 = len(data), hashlib.sha256(data).hexdigest()
    blob = hashlib.sha1(f"blob {size}\0".encode() + (data or b"")).hexdigest()  # git's blob id
    entry: dict[str, Any] = {"type": "file", "oid": blob, "size": size, "path": path}
    if sha256 and size >= lfs_min_size:
        entry["lfs"] = {"oid": sha256, "size": size, "pointerSize": 134}
    return entry


def tree_entries(
    files: Mapping[str, tuple[bytes | None, Mapping[str, str]]],
    kind: str,
    repo: str,
    revision: str,
    folder: str,
    *,
    recursive: bool,
    lfs_min_size: int = 0,
) -> list[dict[str, Any]] | None:
    """The entries under ``folder`` (sorted by path), or None when no served file lies under it."""
    prefix = _resolve_prefix(kind, repo, revision)
    folder = folder.strip("/")
    under = f"{folder}/" if folder else ""
    entries: dict[str, dict[str, Any]] = {}
    for key, (data, headers) in files.items():
        if not key.startswith(prefix + under):
            continue
        rest = key[len(prefix + under) :].split("/")
        depth = len(rest) if recursive else 1
        for i in range(1, min(depth, len(rest) - 1) + 1):
            path = under + "/".join(rest[:i])
            oid = hashlib.sha1(path.encode()).hexdigest()  # a stable tree id
            entries.setdefault(path, {"type": "directory", "oid": oid, "size": 0, "path": path})
        if recursive or len(rest) == 1:
            path = under + "/".join(rest)
            entries[path] = file_entry(path, data, headers, lfs_min_size)
    if not entries and folder:
        return None
    return [entries[p] for p in sorted(entries)]


def tree_page(
    files: Mapping[str, tuple[bytes | None, Mapping[str, str]]],
    base_url: str,
    path: str,
    query: str,
    *,
    page_size: int,
    lfs_min_size: int = 0,
) -> tuple[int, bytes, dict[str, str]]:
    """``(status, JSON body, headers)`` answering a tree request (404 for an unknown folder or API path)."""
    match = _TREE.match(path)
    if match is None:
        return 404, b'{"error": "not found"}', {}
    kind, repo, revision, folder = match.groups()
    params = parse_qs(query)
    recursive = params.get("recursive", ["false"])[0].lower() == "true"
    entries = tree_entries(
        files, kind, repo, revision, folder or "", recursive=recursive, lfs_min_size=lfs_min_size
    )
    if entries is None:
        return 404, json.dumps({"error": f"{folder} does not exist on {revision}"}).encode(), {}
    start = int(params.get("cursor", ["0"])[0] or 0)
    page = entries[start : start + max(1, page_size)]
    headers = {}
    if start + len(page) < len(entries):
        link = f"{base_url}{quote(path)}?recursive={str(recursive).lower()}&cursor={start + len(page)}"
        headers["Link"] = f'<{link}>; rel="next"'
    return 200, json.dumps(page).encode(), headers
