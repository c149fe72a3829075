"""Name -> dataset/stimulus spec tables, filled from the plugins' register hooks on first use."""

from __future__ import annotations

import difflib
import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any

import attrs

from openretina_core.registry.errors import BadArgumentError, OpenRetinaDataError, PluginError
from openretina_core.registry.extras import install_command
from openretina_core.registry.manager import PluginLoadWarning, PluginState, get_plugin_state, strict_mode
from openretina_core.registry.specs import DatasetInfo, DatasetSpec, StimulusSpec

logger = logging.getLogger(__name__)

# Published datasets this project knows about, with the distribution that provides each. Used only to tell a
# user what to install; the core never imports a plugin by name.
KNOWN_DATASETS: dict[str, str] = {
    "goldin_2022": "openretina-goldin-2022",
    "hoefling_2024": "openretina-hoefling-2024",
    "karamanlis_2024": "openretina-karamanlis-2024",
    "maheswaranathan_2023": "openretina-maheswaranathan-2023",
    "sridhar_2025": "openretina-sridhar-2025",
}
KNOWN_STIMULUS_DISTRIBUTIONS: dict[str, str] = {"stimuli": "openretina-stimuli"}


class UnknownDatasetError(OpenRetinaDataError, KeyError):
    """Raised for a dataset name no installed plugin registered; the message says what to do."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class UnknownStimulusError(OpenRetinaDataError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateNameError(OpenRetinaDataError, ValueError):
    """Two distributions registered the same dataset or stimulus name."""


@attrs.define
class _Tables:
    built_from: PluginState  # the tables are valid for this plugin state only
    datasets: dict[str, DatasetSpec] = attrs.field(factory=dict)
    stimuli: dict[str, StimulusSpec] = attrs.field(factory=dict)


_tables: _Tables | None = None
_lock = threading.RLock()


def reset_registry() -> None:
    """Forget the tables so they are rebuilt on next use (after a plugin changed what it registers).

    Replacing the plugin state (``reset_plugin_state``) needs no call here: tables remember the state they were
    built from and are rebuilt when it changes.
    """
    global _tables
    with _lock:
        _tables = None


def _collect(
    state: PluginState,
    hook_name: str,
    make_register: Callable[[str | None, str | None, str], Callable[[Any], None]],
) -> None:
    caller = getattr(state.manager.hook, hook_name)
    for impl in caller.get_hookimpls():  # registration order
        dist, version = state.distribution_of(impl.plugin)
        plugin_name = impl.plugin_name
        try:
            impl.function(register=make_register(dist, version, plugin_name))
        except DuplicateNameError:
            raise
        except Exception as exc:
            record = state.record_of(plugin_name)
            if record is not None:
                record.hook_errors[hook_name] = f"{type(exc).__name__}: {exc}"
            if strict_mode():
                raise PluginError(plugin_name, f"failed in {hook_name}: {type(exc).__name__}: {exc}") from exc
            warnings.warn(
                f"openretina plugin {plugin_name!r} failed in {hook_name}: {type(exc).__name__}: {exc}",
                PluginLoadWarning,
                stacklevel=3,
            )


def _build_tables(state: PluginState) -> _Tables:
    tables = _Tables(built_from=state)

    def dataset_register(dist: str | None, version: str | None, plugin_name: str) -> Callable[[Any], None]:
        def register(spec: DatasetSpec) -> None:
            if not isinstance(spec, DatasetSpec):
                raise BadArgumentError("register(spec)", "a DatasetSpec", type(spec).__name__)
            name = spec.info.id
            if name in tables.datasets:
                other = tables.datasets[name].info.distribution or "an unnamed plugin"
                raise DuplicateNameError(
                    f"dataset name {name!r} registered twice: by {other} and by {dist or plugin_name}. "
                    f"Uninstall one of them."
                )
            info = attrs.evolve(spec.info, distribution=dist or plugin_name, version=version)
            tables.datasets[name] = attrs.evolve(spec, info=info)

        return register

    def stimulus_register(dist: str | None, version: str | None, plugin_name: str) -> Callable[[Any], None]:
        def register(spec: StimulusSpec) -> None:
            if not isinstance(spec, StimulusSpec):
                raise BadArgumentError("register(spec)", "a StimulusSpec", type(spec).__name__)
            if spec.name in tables.stimuli:
                other = tables.stimuli[spec.name].distribution or "an unnamed plugin"
                raise DuplicateNameError(
                    f"stimulus name {spec.name!r} registered twice: by {other} and by {dist or plugin_name}."
                )
            tables.stimuli[spec.name] = attrs.evolve(spec, distribution=dist or plugin_name, version=version)

        return register

    _collect(state, "register_datasets", dataset_register)
    _collect(state, "register_stimuli", stimulus_register)
    return tables


def _get_tables() -> _Tables:
    global _tables
    state = get_plugin_state()
    with _lock:
        if _tables is None or _tables.built_from is not state:
            _tables = _build_tables(state)
        return _tables


def list_datasets() -> list[str]:
    """Registry names of every installed dataset, sorted."""
    return sorted(_get_tables().datasets)


def list_stimuli() -> list[str]:
    """Names of every installed stimulus generator, sorted."""
    return sorted(_get_tables().stimuli)


def get_dataset_spec(name: str) -> DatasetSpec:
    """The registered spec for ``name``, or an error that lists the valid names and what to install."""
    tables = _get_tables()
    if name in tables.datasets:
        return tables.datasets[name]
    known = sorted(tables.datasets)
    lines = [f"unknown dataset {name!r}."]
    if name in KNOWN_DATASETS:
        lines = [
            f"dataset {name!r} is published but its plugin is not installed. Install it with:",
            f"    {install_command(KNOWN_DATASETS[name], name)}   (distribution {KNOWN_DATASETS[name]})",
        ]
    else:
        close = difflib.get_close_matches(name, sorted({*known, *KNOWN_DATASETS}), n=3)
        if close:
            lines.append(f"Did you mean: {', '.join(close)}?")
    lines.append(f"Installed datasets: {', '.join(known) if known else '(none)'}.")
    missing = sorted(set(KNOWN_DATASETS) - set(known))
    if missing:
        lines.append(f"Published but not installed: {', '.join(missing)}.")
    raise UnknownDatasetError("\n".join(lines))


def get_stimulus_spec(name: str) -> StimulusSpec:
    tables = _get_tables()
    if name in tables.stimuli:
        return tables.stimuli[name]
    known = sorted(tables.stimuli)
    hint = (
        f"Install the built-in generators with: {install_command('openretina-stimuli', 'stimuli')}."
        if not known
        else f"Installed generators: {', '.join(known)}."
    )
    close = difflib.get_close_matches(name, known, n=3)
    suggestion = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownStimulusError(f"unknown stimulus generator {name!r}.{suggestion} {hint}")


def dataset_info(name: str) -> DatasetInfo:
    """The dataset card of a registered dataset (citation, species, modality, rates, files, ...)."""
    return get_dataset_spec(name).info


def get_stimulus(name: str, **params: Any) -> Any:
    """Generate a registered artificial stimulus, e.g. ``get_stimulus("gratings", shape=(2, 30, 16, 18))``."""
    return get_stimulus_spec(name).generate(**params)
