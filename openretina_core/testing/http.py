"""A real HTTP file server on 127.0.0.1 for download tests, with Range support and fault injection.

Plugin tests serve their synthetic files under the real relative paths and point the downloader at it::

    with LocalFileServer() as server:
        server.add_dataset("my_dataset", {"data/file.h5": payload})
        monkeypatch.setenv("OPENRETINA_MIRROR_URL", server.url)
        fetch_dataset(info, download=True)
        assert server.count("/my_dataset/data/file.h5") == 1

Faults: :meth:`fail` (answer N requests with a 5xx), :meth:`truncate` (announce the full length, send part of
the body, drop the connection), ``support_range = False`` (ignore Range headers), ``chunk_delay`` (throttle).

As a fake hub (``HF_ENDPOINT=server.url``) it answers the tree API over its ``/datasets/...`` files
(:mod:`~openretina_core.testing.hub_api`, ``tree_page_size`` per page); ``gated_token`` makes hub paths need
``Authorization: Bearer <token>`` (401 without, 403 with another); :meth:`authorizations` lists what was sent.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from attrs import define, field

from openretina_core.testing.hub_api import is_hub_path, tree_page


def zip_folder(folder: str | os.PathLike[str], top: str | None = None) -> bytes:
    """The files under ``folder`` zipped below one top-level folder (``top``, default the folder's own name),
    as the published archives are laid out; for serving a synthetic sample as its real archive.

    Like archives made by ``zip -r`` or a file manager, the zip has an entry for every folder (``<top>/``
    first), so it unpacks into ``<top>/`` with any tool, openretina's ``unzip_and_cleanup`` included (which
    treats a zip of exactly one member as a single file, not a folder).
    """
    import io
    import zipfile
    from pathlib import Path

    root = Path(folder)
    prefix = top if top is not None else root.name
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(root, f"{prefix}/")
        for path in sorted(root.rglob("*")):
            name = f"{prefix}/{path.relative_to(root).as_posix()}"
            if path.is_dir():
                archive.write(path, f"{name}/")
            elif path.is_file():
                archive.write(path, name)
    return buffer.getvalue()


@define
class ServedFile:
    data: bytes
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(factory=dict)
    redirect: str | None = None


@define
class RequestRecord:
    method: str
    path: str
    range: str | None
    status: int
    authorization: str | None = None


class LocalFileServer:
    """Serves in-memory files over HTTP/1.1 in a background thread; counts and logs every request."""

    def __init__(
        self,
        files: Mapping[str, bytes] | None = None,
        *,
        chunk_size: int = 64 * 1024,
        chunk_delay: float = 0.0,
    ) -> None:
        self.files: dict[str, ServedFile] = {}
        self.support_range = True
        self.tree_page_size = 1000
        self.lfs_min_size = 0
        self.gated_token: str | None = None
        self.chunk_size, self.chunk_delay = chunk_size, chunk_delay
        self.requests: list[RequestRecord] = []
        self._failures: dict[str, list[int]] = {}
        self._truncations: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        for path, data in (files or {}).items():
            self.add_file(path, data)

    # -- content ----------------------------------------------------------------------------------------
    def add_file(
        self,
        path: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve ``data`` at ``path`` (leading '/' optional)."""
        key = "/" + path.lstrip("/")
        self.files[key] = ServedFile(data, content_type, dict(headers or {}))

    def add_dataset(self, dataset_id: str, files: Mapping[str, bytes]) -> None:
        """Serve files in the mirror layout ``/<dataset id>/<relative path>``."""
        for rel, data in files.items():
            self.add_file(f"{dataset_id}/{rel}", data)

    def add_redirect(self, path: str, target: str, *, headers: dict[str, str] | None = None) -> None:
        """Answer ``path`` with a 302 to ``target`` (a path on this server or a URL), plus extra headers."""
        key = "/" + path.lstrip("/")
        self.files[key] = ServedFile(b"", headers=dict(headers or {}), redirect=target)

    # -- faults -----------------------------------------------------------------------------------------
    def fail(self, path: str, times: int = 1, status: int = 503) -> None:
        """Answer the next ``times`` GETs of ``path`` with ``status``."""
        with self._lock:
            self._failures.setdefault("/" + path.lstrip("/"), []).extend([status] * times)

    def truncate(self, path: str, after_bytes: int, times: int = 1) -> None:
        """For the next ``times`` GETs of ``path``: send ``after_bytes`` of the body, then hang up."""
        with self._lock:
            self._truncations.setdefault("/" + path.lstrip("/"), []).extend([after_bytes] * times)

    # -- inspection -------------------------------------------------------------------------------------
    def count(self, path: str, method: str = "GET") -> int:
        key = "/" + path.lstrip("/")
        with self._lock:
            return sum(1 for r in self.requests if r.path == key and r.method == method)

    def authorizations(self, path: str | None = None) -> list[str | None]:
        key = "/" + path.lstrip("/") if path is not None else None
        with self._lock:  # the Authorization header of each request (of ``path``, or all), in order
            return [r.authorization for r in self.requests if key is None or r.path == key]

    def ranges(self, path: str) -> list[str | None]:
        key = "/" + path.lstrip("/")
        with self._lock:
            return [r.range for r in self.requests if r.path == key]

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._port}"

    def url_for(self, path: str) -> str:
        return f"{self.url}/{quote(path.lstrip('/'))}"

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> LocalFileServer:
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="LocalFileServer",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (connections are then refused); ``start()`` again reuses the same port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> LocalFileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_fault(self, table: dict[str, list[int]], path: str) -> int | None:
        with self._lock:
            queue = table.get(path)
            return queue.pop(0) if queue else None

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_owner: LocalFileServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _record(self, path: str, status: int) -> RequestRecord:
        return RequestRecord(
            self.command, path, self.headers.get("Range"), status, self.headers.get("Authorization")
        )

    def _send_status(self, path: str, status: int, headers: Mapping[str, str] | None = None) -> None:
        self.server_owner._log(self._record(path, status))
        body = f"{status} {HTTPStatus(status).phrase}\n".encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD":
            self.wfile.write(body)

    def _serve(self, body: bool) -> None:
        owner = self.server_owner
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        if owner.gated_token is not None and is_hub_path(path):
            sent = self.headers.get("Authorization")
            if sent != f"Bearer {owner.gated_token}":
                self._send_status(path, 401 if sent is None else 403)
                return
        failure = owner._next_fault(owner._failures, path) if body else None
        if failure is not None:
            self._send_status(path, failure)
            return
        if path.startswith("/api/"):
            self._serve_api(path, parts.query, body)
            return
        served = owner.files.get(path)
        if served is None:
            self._send_status(path, 404)
            return
        if served.redirect is not None:
            target = served.redirect if "://" in served.redirect else owner.url_for(served.redirect)
            self._send_status(path, 302, {"Location": target, **served.headers})
            return
        data = served.data
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        start, status = 0, 200
        requested = self.headers.get("Range")
        if requested and owner.support_range:
            if_range = self.headers.get("If-Range")
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", requested.strip())
            if match and (if_range is None or if_range == etag):
                start = int(match.group(1))
                if start >= len(data):
                    self._send_status(path, 416, {"Content-Range": f"bytes */{len(data)}"})
                    return
                status = 206
        owner._log(self._record(path, status))
        payload = data[start:]
        self.send_response(status)
        self.send_header("Content-Type", served.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
        if owner.support_range:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        for key, value in served.headers.items():
            self.send_header(key, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if not body:
            return
        cut = owner._next_fault(owner._truncations, path)
        if cut is not None:
            payload = payload[: max(0, cut - start)]
        try:
            for offset in range(0, len(payload), owner.chunk_size):
                self.wfile.write(payload[offset : offset + owner.chunk_size])
                if owner.chunk_delay:
                    self.wfile.flush()
                    time.sleep(owner.chunk_delay)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _serve_api(self, path: str, query: str, body: bool) -> None:
        owner = self.server_owner
        files = {k: (None if f.redirect else f.data, f.headers) for k, f in owner.files.items()}
        status, payload, headers = tree_page(
            files, owner.url, path, query, page_size=owner.tree_page_size, lfs_min_size=owner.lfs_min_size
        )
        owner._log(self._record(path, status))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if body:
            self.wfile.write(payload)


# A child that imports only the download machinery: the package ``__init__`` (and torch with it) is skipped,
# so eight children start in a fraction of a second instead of importing torch eight times.
_CHILD = r"""
import hashlib, json, os, sys, time, types
package = types.ModuleType("openretina_core")
package.__path__ = [sys.argv[1]]
sys.modules["openretina_core"] = package
from openretina_core.files.download import fetch_dataset
from openretina_core.registry.specs import DatasetInfo, RemoteFile
spec, go = json.loads(sys.argv[2]), sys.argv[3]
info = DatasetInfo(id=spec["id"], title=spec["title"], authors=spec["authors"], year=spec["year"],
                   files=[RemoteFile(**f) for f in spec["files"]])
print("ready", flush=True)
while go and not os.path.exists(go):
    time.sleep(0.002)
try:
    root = fetch_dataset(info, download=True)
    digest = {f.relative_path: hashlib.sha256((root / f.relative_path).read_bytes()).hexdigest()
              for f in info.files}
    out = {"pid": os.getpid(), "root": str(root), "sha256": digest}
except Exception as exc:
    out = {"pid": os.getpid(), "error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(out), flush=True)
"""


def start_fetch_process(
    info: Any, env: Mapping[str, str], go_file: str | os.PathLike[str] | None = None
) -> Any:
    """Start a separate Python process that runs ``fetch_dataset(info, download=True)``.

    It prints ``ready`` once imported, waits for ``go_file`` to exist (if given), then prints one JSON line:
    ``{"pid", "root", "sha256": {relative path: hash}}`` or ``{"pid", "error"}``.
    """
    import json
    import subprocess
    import sys
    from pathlib import Path

    package_dir = str(Path(__file__).resolve().parent)
    spec = json.dumps(info.as_dict())
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, package_dir, spec, str(go_file or "")],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )


def run_concurrent_fetches(
    info: Any, env: Mapping[str, str], processes: int = 8, timeout: float = 60.0
) -> list[dict]:
    """Start ``processes`` fetches, release them at the same instant, and return their JSON results."""
    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        go = Path(tmp) / "go"
        procs = [start_fetch_process(info, env, go) for _ in range(processes)]
        try:
            for proc in procs:
                line = proc.stdout.readline().strip() if proc.stdout else ""
                if line != "ready":
                    raise RuntimeError(f"fetch process {proc.pid} failed to start (said {line!r})")
            go.touch()
            outputs = [proc.communicate(timeout=timeout)[0] for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]
