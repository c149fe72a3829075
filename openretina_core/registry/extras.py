"""Install lines: the core's pip extras under their PEP 685 names, and the command that installs a plugin.

Wheel metadata spells every extra normalised (``Provides-Extra: karamanlis-2024``), and pips older than 23.3
match a requested extra against that spelling literally: asked for ``karamanlis_2024`` they install the core
alone and only warn that it "does not provide the extra". So everything the core prints uses :func:`normalize_extra`, and the
install line of a dataset comes from the distribution that provides it (:func:`install_command`): the core's
own extra when the core has one for that distribution, ``pip install <distribution>`` for any other plugin.

Which extra installs which distribution is read from the installed core's metadata (so an extra added to
``pyproject.toml`` is known as soon as the core is reinstalled); when that metadata cannot be read (a source
tree on ``sys.path`` without an install), the caller's ``fallback_extra`` is used.
"""

from __future__ import annotations

import functools
import re
from importlib import metadata

CORE_DISTRIBUTION = "openretina-core"

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)[^;]*;\s*(.*)$")
_EXTRA_MARKER = re.compile(r"""^extra\s*==\s*["']([^"']+)["']\s*$""")


def normalize_extra(name: str) -> str:
    """The PEP 685 spelling of an extra (also PEP 503's for a distribution): ``Karamanlis_2024`` ->
    ``karamanlis-2024``. It is the only spelling every pip that runs on Python 3.10+ accepts."""
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def core_extras() -> dict[str, tuple[str, ...]] | None:
    """Each extra of the installed core (PEP 685 name) -> the distributions it installs (normalised names),
    from the core's metadata; None when the core is not installed as a distribution."""
    try:
        requirements = metadata.requires(CORE_DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return None
    extras: dict[str, list[str]] = {}
    for line in requirements:
        match = _REQUIREMENT.match(line)
        marker = _EXTRA_MARKER.match(match.group(2).strip()) if match else None
        if match and marker:
            extras.setdefault(normalize_extra(marker.group(1)), []).append(normalize_extra(match.group(1)))
    return {extra: tuple(dists) for extra, dists in extras.items()}


def extra_for_distribution(distribution: str, fallback_extra: str | None = None) -> str | None:
    """The core's extra that installs exactly ``distribution`` (and nothing else), or None;
    ``fallback_extra`` (normalised) when the core's metadata cannot be read."""
    extras = core_extras()
    if extras is None:
        return normalize_extra(fallback_extra) if fallback_extra else None
    wanted = normalize_extra(distribution)
    for extra, dists in sorted(extras.items()):
        if dists == (wanted,):
            return extra
    return None


def install_command(distribution: str, fallback_extra: str | None = None) -> str:
    """The pip command that installs ``distribution``: through the core's extra when it has one
    (``pip install "openretina-core[karamanlis-2024]"``), else the distribution itself."""
    extra = extra_for_distribution(distribution, fallback_extra)
    if extra is not None:
        return f'pip install "{CORE_DISTRIBUTION}[{extra}]"'
    return f"pip install {distribution}"


def is_installed_distribution(name: str) -> bool:
    """Whether ``name`` is an installed distribution (a plugin registered in-process has none)."""
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True
