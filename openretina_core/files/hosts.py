"""Where a file is fetched from: its published URLs, a lab mirror, or hosts moved by environment variables.

* ``OPENRETINA_MIRROR_URL``: every file is fetched from ``<mirror>/<dataset id>/<relative path>`` instead
  of its hosts (a lab-local mirror for air-gapped clusters). The mirror may be ``http(s)://``, ``file://``
  or a plain folder path.
* ``OPENRETINA_HF_URL``, ``OPENRETINA_GIN_URL``, ``OPENRETINA_SDR_URL``, ``OPENRETINA_ZENODO_URL``: replace
  the ``scheme://host`` part of URLs on that host (the value may carry a path prefix), e.g. a proxy or a
  test server.
* ``HF_ENDPOINT`` (Hugging Face's own variable) moves ``huggingface.co`` URLs too; ``OPENRETINA_HF_URL`` wins when
  both are set. With ``HF_HUB_OFFLINE=1`` the Hugging Face URLs are dropped from the candidates (no request to
  the hub); a mirror is not the hub and is still used. See :mod:`openretina_core.files.hub`.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit

from openretina_core.files import hub
from openretina_core.registry.specs import RemoteFile

MIRROR_ENV = "OPENRETINA_MIRROR_URL"

# Host name -> environment variable that replaces its scheme and host.
HOST_ENV: dict[str, str] = {
    "huggingface.co": "OPENRETINA_HF_URL",
    "gin.g-node.org": "OPENRETINA_GIN_URL",
    "stacks.stanford.edu": "OPENRETINA_SDR_URL",
    "purl.stanford.edu": "OPENRETINA_SDR_URL",
    "zenodo.org": "OPENRETINA_ZENODO_URL",
}


def check_relative_path(relative_path: str, dataset_id: str = "") -> PurePosixPath:
    """A published relative path as a safe POSIX path (no absolute part, no ``..``, not our metadata)."""
    path = PurePosixPath(relative_path)
    where = f" of dataset {dataset_id!r}" if dataset_id else ""
    if (
        not relative_path
        or "\\" in relative_path
        or path.is_absolute()
        or any(part in ("", ".", "..") for part in relative_path.split("/"))
        or path.parts[0] == ".openretina"
    ):
        raise ValueError(
            f"relative_path {relative_path!r}{where} must be a plain relative path (no leading '/', no '.', "
            f"'..' or backslashes, not under .openretina/)"
        )
    return path


def _base_to_url(base: str) -> str:
    """A mirror given as a folder path becomes a ``file://`` URL; URLs are kept."""
    if "://" in base:
        return base.rstrip("/")
    return Path(base).expanduser().resolve().as_uri().rstrip("/")


def apply_host_override(url: str) -> str:
    """``url`` with its scheme and host replaced when that host's environment variable is set."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    if host == hub.HUB_HOST:
        base = hub.endpoint_override() or ""
    else:
        env = HOST_ENV.get(host)
        base = os.environ.get(env, "").strip() if env else ""
    if not base:
        return url
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return _base_to_url(base) + rest


def mirror_url(mirror: str, dataset_id: str, relative_path: str) -> str:
    """``<mirror>/<dataset id>/<relative path>`` with the path quoted."""
    return f"{_base_to_url(mirror)}/{quote(dataset_id)}/{quote(relative_path)}"


def candidate_urls(dataset_id: str, remote: RemoteFile) -> list[str]:
    """The URLs to try, in order: the mirror alone when one is set, else each published URL (overridden), less
    the Hugging Face ones in Hugging Face's offline mode."""
    check_relative_path(remote.relative_path, dataset_id)
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if mirror:
        return [mirror_url(mirror, dataset_id, remote.relative_path)]
    skip_hub = hub.hub_offline()
    return [apply_host_override(url) for url in remote.urls if not (skip_hub and hub.is_hub_url(url))]


def only_on_hub_offline(dataset_id: str, remote: RemoteFile) -> bool:
    """Whether ``remote`` has published URLs but every one is on Hugging Face, which offline mode forbids."""
    return bool(remote.urls) and not candidate_urls(dataset_id, remote)
