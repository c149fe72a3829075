"""Shared fixtures: a fresh plugin manager per test (core tests never depend on what is installed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openretina_core.registry.manager import PluginState, build_plugin_manager, reset_plugin_state


@pytest.fixture
def fresh_plugins() -> Iterator[PluginState]:
    """A plugin manager with only the built-in defaults; restored to lazy discovery afterwards."""
    state = build_plugin_manager(load_entry_points=False)
    reset_plugin_state(state)
    try:
        yield state
    finally:
        reset_plugin_state(None)


@pytest.fixture
def toy_plugins(fresh_plugins: PluginState) -> PluginState:
    """The fresh manager with the toy dataset plugin registered (a throwaway class plugin)."""
    from toy_dataset_plugin import ToyDatasetPlugin

    fresh_plugins.manager.register(ToyDatasetPlugin(), name="toy-plugin")
    return fresh_plugins
