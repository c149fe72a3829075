"""The registry wing: what exists and who provides it.

Owns the hook specifications, the plugin manager (entry-point group ``openretina``, broken-plugin isolation,
strict/allow/block switches), the name tables of datasets and stimuli, the dataset/stimulus specs and cards,
the lazy-export helper every package's ``__init__`` uses, and the default plugins shipped with the core.

Imports: nothing else of ``openretina_core`` (the bottom wing; ``data``, ``files``, ``cli`` and ``testing`` build
on it). Plugins import from this module only: ``from openretina_core.registry import DatasetSpec, lazy_exports``.
"""

from typing import TYPE_CHECKING

from openretina_core.registry.lazy import LazyFunction, lazy_exports

if TYPE_CHECKING:
    from openretina_core.registry.errors import (
        BadArchiveError,
        BadArgumentError,
        BadDataError,
        BadFileError,
        DataIntegrityError,
        MissingFileError,
        OpenRetinaDataError,
        PluginError,
        UnknownOptionError,
        check_int,
        option_names,
    )
    from openretina_core.registry.hookspecs import ENTRY_POINT_GROUP, PROJECT_NAME, hookimpl, hookspec
    from openretina_core.registry.manager import (
        LoadedPlugin,
        PluginLoadWarning,
        PluginState,
        build_plugin_manager,
        get_plugin_manager,
        get_plugin_state,
        reset_plugin_state,
        strict_mode,
    )
    from openretina_core.registry.specs import (
        DatasetInfo,
        DatasetSpec,
        RemoteFile,
        StimulusSpec,
        SyntheticSample,
    )
    from openretina_core.registry.tables import (
        KNOWN_DATASETS,
        DuplicateNameError,
        UnknownDatasetError,
        UnknownStimulusError,
        dataset_info,
        get_dataset_spec,
        get_stimulus,
        get_stimulus_spec,
        list_datasets,
        list_stimuli,
        reset_registry,
    )

_EXPORTS = {
    **dict.fromkeys(
        [
            "BadArchiveError",
            "BadArgumentError",
            "BadDataError",
            "BadFileError",
            "DataIntegrityError",
            "MissingFileError",
            "OpenRetinaDataError",
            "PluginError",
            "UnknownOptionError",
            "check_int",
            "option_names",
        ],
        ".errors",
    ),
    **dict.fromkeys(["ENTRY_POINT_GROUP", "PROJECT_NAME", "hookimpl", "hookspec"], ".hookspecs"),
    **dict.fromkeys(
        [
            "LoadedPlugin",
            "PluginLoadWarning",
            "PluginState",
            "build_plugin_manager",
            "get_plugin_manager",
            "get_plugin_state",
            "reset_plugin_state",
            "strict_mode",
        ],
        ".manager",
    ),
    **dict.fromkeys(
        ["DatasetInfo", "DatasetSpec", "RemoteFile", "StimulusSpec", "SyntheticSample"], ".specs"
    ),
    **dict.fromkeys(
        [
            "KNOWN_DATASETS",
            "DuplicateNameError",
            "UnknownDatasetError",
            "UnknownStimulusError",
            "dataset_info",
            "get_dataset_spec",
            "get_stimulus",
            "get_stimulus_spec",
            "list_datasets",
            "list_stimuli",
            "reset_registry",
        ],
        ".tables",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "ENTRY_POINT_GROUP",
    "KNOWN_DATASETS",
    "PROJECT_NAME",
    "BadArchiveError",
    "BadArgumentError",
    "BadDataError",
    "BadFileError",
    "DataIntegrityError",
    "DatasetInfo",
    "DatasetSpec",
    "DuplicateNameError",
    "LazyFunction",
    "LoadedPlugin",
    "MissingFileError",
    "OpenRetinaDataError",
    "PluginError",
    "PluginLoadWarning",
    "PluginState",
    "RemoteFile",
    "StimulusSpec",
    "SyntheticSample",
    "UnknownDatasetError",
    "UnknownOptionError",
    "UnknownStimulusError",
    "build_plugin_manager",
    "check_int",
    "dataset_info",
    "get_dataset_spec",
    "get_plugin_manager",
    "get_plugin_state",
    "get_stimulus",
    "get_stimulus_spec",
    "hookimpl",
    "hookspec",
    "lazy_exports",
    "list_datasets",
    "list_stimuli",
    "option_names",
    "reset_plugin_state",
    "reset_registry",
    "strict_mode",
]
