"""Stream one URL into a partial file: sha256 while streaming, retries with back-off, HTTP Range resume.

Written with ``urllib`` rather than pooch because pooch has no Range resume, hashes only after the download by
re-reading the file, and does not expose the response status needed to tell a resumed (206) from a restarted
(200) transfer. ``file://`` URLs (a mirror on a shared filesystem) are streamed the same way.

Settings: ``OPENRETINA_DOWNLOAD_RETRIES`` (attempts per URL, default 5), ``OPENRETINA_RETRY_BACKOFF_S`` (first
back-off, doubled each time, default 1), ``OPENRETINA_DOWNLOAD_TIMEOUT_S`` (socket timeout, default 60).
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import logging
import os
import random
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from attrs import define

from openretina_core.files import hub
from openretina_core.files.partials import meta_of
from openretina_core.files.progress import byte_bar
from openretina_core.registry.errors import DataIntegrityError, OpenRetinaDataError

logger = logging.getLogger(__name__)

RETRIES_ENV = "OPENRETINA_DOWNLOAD_RETRIES"
BACKOFF_ENV = "OPENRETINA_RETRY_BACKOFF_S"
TIMEOUT_ENV = "OPENRETINA_DOWNLOAD_TIMEOUT_S"
CHUNK = 1 << 20
TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
USER_AGENT = "openretina-data (+https://github.com/open-retina)"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(OpenRetinaDataError, ConnectionError):
    """No URL of a file could be fetched; the message lists each URL and why it failed."""


class IntegrityError(DataIntegrityError):
    """A downloaded or cached file does not match its known hash or size."""


class DiskFullError(OpenRetinaDataError, OSError):
    """The cache's disk has no room for a file."""


class UrlFailedError(OpenRetinaDataError):
    """One URL failed for good (after its retries); carries the reason for the summary error."""

    def __init__(self, url: str, reason: str, *, integrity: bool = False) -> None:
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.integrity = url, reason, integrity


class _TransientError(Exception):
    pass


class _PermanentError(Exception):
    def __init__(self, reason: str, *, integrity: bool = False) -> None:
        super().__init__(reason)
        self.integrity = integrity


@define
class FetchResult:
    url: str
    sha256: str
    size: int
    host_sha256: str | None  # a hash the host published (Hugging Face's LFS sha256), if any
    resumed: bool  # whether some bytes came from an earlier partial or attempt


def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def _host_sha256(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().removeprefix("W/").strip('"').lower()
    return value if _SHA256.match(value) else None


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects and keeps the hash header Hugging Face sends on its redirect (X-Linked-Etag).

    The hub token is an unredirected header, so urllib drops it on every redirect; it is added back only when the
    redirect stays on the hub's origin (a renamed repository), never for the CDN on another host.
    """

    def __init__(self) -> None:
        self.linked_etag: str | None = None

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        self.linked_etag = _host_sha256(headers.get("X-Linked-Etag")) or self.linked_etag
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            for key, value in hub.auth_header(newurl).items():
                new.add_unredirected_header(key, value)
        return new


def disk_space_error(folder: Path, needed: int | None, cause: BaseException | None = None) -> DiskFullError:
    try:
        free = f"{shutil.disk_usage(folder).free / 1e9:.2f} GB free"
    except OSError:
        free = "free space unknown"
    need = f"{needed / 1e9:.2f} GB needed, " if needed is not None else ""
    return DiskFullError(
        errno.ENOSPC,
        f"not enough disk space in {folder} ({need}{free}). Free some space (`openretina-data cache info`, "
        f"`openretina-data cache clean NAME`) or point OPENRETINA_CACHE_DIR at a bigger disk."
        + (f" ({cause})" if cause else ""),
    )


class _Partial:
    """The open partial file, its running hash, and what the server said about it."""

    def __init__(self, path: Path, url: str, *, resume_without_validator: bool) -> None:
        self.path, self.url = path, url
        self.hasher = hashlib.sha256()
        self.total: int | None = None
        self.validator: str | None = None
        self.resumed = False
        meta = self._read_meta()
        keep = (
            path.exists()
            and meta.get("url") == url
            and (meta.get("validator") or resume_without_validator)
            and path.stat().st_size > 0
        )
        self.handle: BinaryIO = open(path, "r+b" if keep else "wb")  # noqa: SIM115
        if keep:
            self.validator, self.total = meta.get("validator"), meta.get("total")
            while block := self.handle.read(CHUNK):
                self.hasher.update(block)
            self.resumed = True
            logger.info("resuming %s from byte %d", url, self.handle.tell())
        self.offset = self.handle.tell()

    def _read_meta(self) -> dict[str, Any]:
        try:
            data = json.loads(meta_of(self.path).read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def set_remote(self, validator: str | None, total: int | None) -> None:
        self.validator, self.total = validator, total
        meta = {"url": self.url, "validator": validator, "total": total}
        meta_of(self.path).write_text(json.dumps(meta), encoding="utf-8")

    def restart(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.hasher, self.offset, self.resumed = hashlib.sha256(), 0, False

    def write(self, block: bytes) -> None:
        try:
            self.handle.write(block)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                raise disk_space_error(self.path.parent, self.total, exc) from exc
            raise
        self.hasher.update(block)
        self.offset += len(block)

    def finish(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        self.handle.close()


def _parse_content_range(value: str | None) -> tuple[int, int | None]:
    match = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    if not match:
        raise _TransientError(f"bad Content-Range header {value!r}")
    total = match.group(2)
    return int(match.group(1)), None if total == "*" else int(total)


def _check_space(folder: Path, needed: int | None) -> None:
    if needed is None or needed <= 0:
        return
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < needed:
        raise disk_space_error(folder, needed)


def _stream(source: Any, state: _Partial, total: int | None, bar: Any) -> None:
    while True:
        try:
            block = source.read(CHUNK)
        except (http.client.HTTPException, OSError) as exc:
            raise _TransientError(
                f"connection dropped after {state.offset} bytes ({type(exc).__name__})"
            ) from exc
        if not block:
            break
        state.write(block)
        bar.update(len(block))
    if total is not None and state.offset < total:
        raise _TransientError(f"transfer truncated at {state.offset} of {total} bytes")
    if total is not None and state.offset > total:
        state.restart()
        raise _TransientError(f"received more than the announced {total} bytes")


def _transfer_file_url(url: str, state: _Partial, expected_size: int | None, bar: Any) -> str | None:
    path = Path(url2pathname(urlsplit(url).path))
    try:
        source = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise _PermanentError(f"cannot read mirror file {path}: {exc}") from exc
    with source:
        total = os.fstat(source.fileno()).st_size
        if expected_size is not None and total != expected_size:
            raise _PermanentError(f"mirror file has {total} bytes, expected {expected_size}", integrity=True)
        if state.offset > total:
            state.restart()
        source.seek(state.offset)
        state.set_remote(str(os.fstat(source.fileno()).st_mtime_ns), total)
        _check_space(state.path.parent, total - state.offset)
        _stream(source, state, total, bar)
    return None


def hub_opener() -> urllib.request.OpenerDirector:
    """An opener that follows redirects keeping the hub token on the hub's origin only."""
    return urllib.request.build_opener(_RecordingRedirects())


def hub_request(url: str, headers: dict[str, str]) -> urllib.request.Request:
    """A request with ``headers``, plus the hub token when ``url`` is on the hub's origin (unredirected)."""
    request = urllib.request.Request(url, headers=headers)
    for key, value in hub.auth_header(url).items():
        request.add_unredirected_header(key, value)
    return request


def _transfer_http(
    url: str, state: _Partial, expected_size: int | None, bar: Any, html_ok: bool
) -> str | None:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if state.offset > 0:
        headers["Range"] = f"bytes={state.offset}-"
        if state.validator:
            headers["If-Range"] = state.validator
    redirects = _RecordingRedirects()
    opener = urllib.request.build_opener(redirects)
    request = hub_request(url, headers)
    try:
        response = opener.open(request, timeout=_env_number(TIMEOUT_ENV, 60.0))
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and state.offset > 0:
            if state.total is not None and state.offset == state.total:
                return redirects.linked_etag  # the partial was already complete
            state.restart()
            raise _TransientError("server refused the resume range; restarting from byte 0") from exc
        if exc.code in TRANSIENT_STATUS:
            raise _TransientError(f"HTTP {exc.code} {exc.reason}") from exc
        if exc.code in (401, 403) and hub.on_hub_origin(exc.geturl() or url):
            raise _PermanentError(hub.auth_hint(exc.code)) from exc
        raise _PermanentError(f"HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, socket.gaierror):  # no DNS (an offline node): retrying will not help
            raise _PermanentError(
                f"cannot resolve the host ({reason}); offline? see OPENRETINA_OFFLINE"
            ) from exc
        raise _TransientError(f"connection failed: {reason}") from exc
    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        if status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != state.offset:
                state.restart()
                raise _TransientError(f"server resumed at byte {start}, not {state.offset}; restarting")
        elif status == 200:
            if state.offset:
                logger.info("%s ignored the resume range; downloading from byte 0", url)
                state.restart()
            total = int(length) if length is not None else None
        else:
            raise _PermanentError(f"unexpected HTTP status {status}")
        ctype = response.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() == "text/html" and not html_ok:
            raise _PermanentError(
                "the server sent an HTML page (an error or login page?) instead of the file"
            )
        if expected_size is not None and total is not None and total != expected_size:
            raise _PermanentError(
                f"the server announces {total} bytes, expected {expected_size}", integrity=True
            )
        if total is None:
            logger.warning("%s sent no length: a dropped connection cannot be detected", url)
        state.set_remote(response.headers.get("ETag") or response.headers.get("Last-Modified"), total)
        _check_space(state.path.parent, (total or expected_size or 0) - state.offset)
        if total is not None:
            bar.total = total
        bar.n = state.offset
        _stream(response, state, total, bar)
        return redirects.linked_etag or _host_sha256(response.headers.get("X-Linked-Etag"))


def download_url(
    url: str,
    partial: Path,
    *,
    expected_size: int | None = None,
    resume_without_validator: bool = False,
    desc: str = "",
) -> FetchResult:
    """Fetch ``url`` into ``partial`` (resuming its bytes when safe) and return its sha256 and size.

    Transient failures (5xx, 429, dropped or refused connections, truncation) are retried with exponential
    back-off, resuming with a Range request; the server's ETag/Last-Modified is sent as ``If-Range`` so a
    changed file restarts from zero. Raises :class:`UrlFailedError` when this URL cannot deliver the file, and
    :class:`DiskFullError` when the disk is full.
    """
    attempts = max(1, int(_env_number(RETRIES_ENV, 5)))
    backoff = _env_number(BACKOFF_ENV, 1.0)
    html_ok = partial.name.split("~")[0].lower().endswith((".html", ".htm"))
    state = _Partial(partial, url, resume_without_validator=resume_without_validator)
    resumed = state.resumed
    last = "no attempt"
    try:
        with byte_bar(desc or url.rsplit("/", 1)[-1], total=expected_size, initial=state.offset) as bar:
            for attempt in range(attempts):
                try:
                    if urlsplit(url).scheme == "file":
                        host_sha = _transfer_file_url(url, state, expected_size, bar)
                    else:
                        host_sha = _transfer_http(url, state, expected_size, bar, html_ok)
                    state.finish()
                    return FetchResult(url, state.hasher.hexdigest(), state.offset, host_sha, resumed)
                except _TransientError as exc:
                    last = str(exc)
                    resumed = resumed or state.offset > 0
                    if attempt + 1 < attempts:
                        delay = backoff * 2**attempt * (0.5 + random.random() / 2)
                        logger.warning(
                            "%s: %s; retry %d/%d in %.1f s", url, last, attempt + 1, attempts - 1, delay
                        )
                        time.sleep(delay)
                except _PermanentError as exc:
                    raise UrlFailedError(url, str(exc), integrity=exc.integrity) from exc
    finally:
        state.close()
    raise UrlFailedError(url, f"gave up after {attempts} attempts; last error: {last}")
