"""The plugin manager: built lazily, loads entry points one at a time, and survives a broken plugin.

Environment switches:
  ``OPENRETINA_STRICT_PLUGINS=1``  re-raise a plugin's load error instead of warning (use it in CI).
  ``OPENRETINA_PLUGINS=a,b``       load only these entry points (by entry-point name or distribution name).
  ``OPENRETINA_BLOCK_PLUGINS=a,b`` never load these.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterable
from typing import Any

import pluggy
from attrs import define, field

from openretina_core.registry import hookspecs
from openretina_core.registry.errors import PluginError

logger = logging.getLogger(__name__)

STRICT_ENV = "OPENRETINA_STRICT_PLUGINS"
ALLOW_ENV = "OPENRETINA_PLUGINS"
BLOCK_ENV = "OPENRETINA_BLOCK_PLUGINS"

DEFAULT_PLUGINS = ("openretina_core.registry.default_plugins.device",)


class PluginLoadWarning(UserWarning):
    """Warned once per plugin that failed to load."""


@define
class LoadedPlugin:
    """One entry point and what happened when it was loaded."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    error: BaseException | None = None
    hooks: list[str] = field(factory=list)
    hook_errors: dict[str, str] = field(factory=dict)  # hook name -> what went wrong in it

    @property
    def healthy(self) -> bool:
        return self.error is None and not self.hook_errors


def _env_list(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _is_truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def strict_mode() -> bool:
    """Whether plugin failures are re-raised (``OPENRETINA_STRICT_PLUGINS``) instead of warned about."""
    return _is_truthy(STRICT_ENV)


def _entry_points() -> Iterable[Any]:
    from importlib_metadata import entry_points

    return entry_points(group=hookspecs.ENTRY_POINT_GROUP)


@define
class PluginState:
    """The plugin manager plus the record of every entry point it saw."""

    manager: pluggy.PluginManager
    loaded: list[LoadedPlugin] = field(factory=list)

    def failures(self) -> list[LoadedPlugin]:
        return [p for p in self.loaded if p.error is not None]

    def record_of(self, plugin_name: str) -> LoadedPlugin | None:
        """The load record of an entry-point plugin (None for built-in or in-process plugins)."""
        return next((record for record in self.loaded if record.name == plugin_name), None)

    def distribution_of(self, plugin: object) -> tuple[str | None, str | None]:
        """The (distribution, version) of a registered plugin object, when it came from an entry point."""
        name = self.manager.get_name(plugin)
        for record in self.loaded:
            if record.name == name:
                return record.distribution, record.version
        return None, None


def build_plugin_manager(load_entry_points: bool = True) -> PluginState:
    """Create a fresh manager with the built-in defaults and (optionally) every allowed entry point."""
    import importlib

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    state = PluginState(manager=pm)
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
    if load_entry_points:
        load_entry_point_plugins(state, _entry_points())
    pm.check_pending()
    return state


def load_entry_point_plugins(state: PluginState, entry_points: Iterable[Any]) -> None:
    """Load each entry point in its own try/except; remember and warn about failures (or raise if strict)."""
    allow, block, strict = _env_list(ALLOW_ENV), _env_list(BLOCK_ENV) or set(), strict_mode()
    pm = state.manager
    for ep in sorted(entry_points, key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        dist_name = getattr(dist, "name", None) if dist is not None else None
        version = getattr(dist, "version", None) if dist is not None else None
        names = {ep.name, dist_name} - {None}
        if names & block or (allow is not None and not names & allow):
            logger.debug("plugin %s skipped by %s/%s", ep.name, ALLOW_ENV, BLOCK_ENV)
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        record = LoadedPlugin(name=ep.name, distribution=dist_name, version=version, module=ep.value)
        state.loaded.append(record)
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
            pm.check_pending()
            record.hooks = sorted(h.name for h in pm.get_hookcallers(module) or [])
        except Exception as exc:  # a broken plugin must not brick the tool
            record.error = exc
            plugin = pm.get_plugin(ep.name)
            if plugin is not None:
                pm.unregister(plugin)
            if strict:
                raise PluginError(
                    ep.name, f"(distribution {dist_name or '?'}, module {ep.value}) failed to load: {exc}"
                ) from exc
            warnings.warn(
                f"openretina plugin {ep.name!r} ({dist_name or ep.value}) failed to load and was skipped: "
                f"{type(exc).__name__}: {exc}. Run `openretina-data plugins` for details, or set "
                f"{STRICT_ENV}=1 to raise.",
                PluginLoadWarning,
                stacklevel=2,
            )


_state: PluginState | None = None
_lock = threading.Lock()


def get_plugin_state() -> PluginState:
    """The process-wide plugin state, built on first use (never at import time)."""
    global _state
    with _lock:
        if _state is None:
            _state = build_plugin_manager()
        return _state


def get_plugin_manager() -> pluggy.PluginManager:
    return get_plugin_state().manager


def reset_plugin_state(state: PluginState | None = None) -> None:
    """Replace (or drop, to rebuild lazily) the process-wide state; used by tests and after installs.

    The name tables notice the new state on their next use and rebuild themselves.
    """
    global _state
    with _lock:
        _state = state
