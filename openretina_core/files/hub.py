"""Hugging Face conventions: the hub's endpoint, its offline switch and the user's token, read as the hub reads them.

Users of Hugging Face already set these for every tool built on ``huggingface_hub``; openretina honours the same
variables for the files it fetches from the hub (see ``docs/downloads.md``, "Hugging Face conventions"):

* ``HF_ENDPOINT`` (default ``https://huggingface.co``): where ``huggingface.co`` URLs go (a private hub or a
  proxy). ``OPENRETINA_HF_URL``, this project's own override, wins when both are set.
* ``HF_HUB_OFFLINE`` (``1``/``true``/``yes``/``on``, any case): never contact the hub; files on it are served
  from the cache or refused, and listings come from the cache.
* ``HF_TOKEN``, else the token file (``HF_TOKEN_PATH``, default ``$HF_HOME/token``; ``HF_HOME`` defaults to
  ``$XDG_CACHE_HOME/huggingface`` or ``~/.cache/huggingface``) that ``huggingface-cli login`` writes: sent as
  ``Authorization: Bearer <token>`` to the hub's own origin only, never to a redirect on another host (the
  LFS/Xet CDN), never logged.

Nothing here imports another module of the core, so hosts, fetch and the listing can all use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

HUB_HOST = "huggingface.co"
DEFAULT_ENDPOINT = "https://huggingface.co"
ENDPOINT_ENV = "HF_ENDPOINT"
PROJECT_ENDPOINT_ENV = "OPENRETINA_HF_URL"
HUB_OFFLINE_ENV = "HF_HUB_OFFLINE"
TOKEN_ENV = "HF_TOKEN"
TOKEN_PATH_ENV = "HF_TOKEN_PATH"
HOME_ENV = "HF_HOME"
OFFLINE_ENV = "OPENRETINA_OFFLINE"
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to a true value, as the hub reads its switches."""
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or ``OPENRETINA_OFFLINE``, which forbids every host) is set: no request to the hub."""
    return env_flag(HUB_OFFLINE_ENV) or env_flag(OFFLINE_ENV)


def _as_base(value: str) -> str:
    if "://" in value:
        return value.rstrip("/")
    return Path(value).expanduser().resolve().as_uri().rstrip("/")


def endpoint_override() -> str | None:
    """The base that replaces ``https://huggingface.co`` (``OPENRETINA_HF_URL``, else ``HF_ENDPOINT``), if any."""
    for name in (PROJECT_ENDPOINT_ENV, ENDPOINT_ENV):
        value = os.environ.get(name, "").strip()
        if value:
            return _as_base(value)
    return None


def hub_endpoint() -> str:
    """The hub's base URL as requests see it (the override, else ``https://huggingface.co``)."""
    return endpoint_override() or DEFAULT_ENDPOINT


def is_hub_url(url: str) -> bool:
    """Whether a published URL is on Hugging Face (``huggingface.co`` or ``www.huggingface.co``)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in (HUB_HOST, f"www.{HUB_HOST}")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def on_hub_origin(url: str) -> bool:
    """Whether ``url`` is on the hub's own origin (scheme, host and port of :func:`hub_endpoint`)."""
    return _origin(url) == _origin(hub_endpoint())


def hf_home() -> Path:
    home = os.environ.get(HOME_ENV, "").strip()
    if home:
        return Path(os.path.expandvars(home)).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface"


def token_path() -> Path:
    """Where ``huggingface-cli login`` keeps the token: ``HF_TOKEN_PATH``, else ``$HF_HOME/token``."""
    path = os.environ.get(TOKEN_PATH_ENV, "").strip()
    return Path(os.path.expandvars(path)).expanduser() if path else hf_home() / "token"


def hub_token() -> tuple[str | None, str]:
    """The user's token and where it came from (``HF_TOKEN`` or the token file); ``(None, "")`` without one."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token, TOKEN_ENV
    path = token_path()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None, ""
    return (token, str(path)) if token else (None, "")


def auth_header(url: str) -> dict[str, str]:
    """``{"Authorization": "Bearer ..."}`` for a request to the hub's origin with a token available, else ``{}``.

    Callers add it with ``Request.add_unredirected_header`` so urllib does not forward it on redirects.
    """
    if not on_hub_origin(url):
        return {}
    token, _ = hub_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def auth_hint(status: int) -> str:
    """What to do after a 401/403 from the hub: the gated/private repo needs a token with access. The token itself
    is never shown, only where it was read from."""
    _, source = hub_token()
    if source:
        sent = (
            f"the token from {source} was sent but refused: check that it is valid and that your account has "
            f"been granted access to the repository (gated repositories: accept the conditions on its page)"
        )
    else:
        sent = (
            f"no token was sent: set {TOKEN_ENV}=<your token> or run `huggingface-cli login` "
            f"(it writes {token_path()}), after requesting access on the repository's page if it is gated"
        )
    return f"HTTP {status} from Hugging Face: the repository is gated or private; {sent}"


def offline_reason() -> str:
    """Which switch forbids the hub, for messages."""
    return f"{OFFLINE_ENV}=1" if env_flag(OFFLINE_ENV) else f"{HUB_OFFLINE_ENV}=1 (Hugging Face offline mode)"
