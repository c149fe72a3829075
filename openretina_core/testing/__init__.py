"""The testing kit: what a plugin's tests reuse.

Owns the dataset-plugin contract (``DatasetPluginContract``, the only part that needs pytest) and the loopback
HTTP server that serves synthetic samples as published files (``LocalFileServer``, ``zip_folder``, helpers for
concurrent fetch processes), ways to damage a valid file (``damage_file``, ``assert_names_file``) and a test's own download environment
(``isolate_downloads``). Importing this module imports neither pytest nor torch.

Imports: ``openretina_core.data``, ``openretina_core.files`` and ``openretina_core.registry`` (a face: nothing
in the core imports it). Plugins' tests import from this module only:
``from openretina_core.testing import DatasetPluginContract, LocalFileServer``.
"""

from typing import TYPE_CHECKING

from openretina_core.registry.lazy import lazy_exports

if TYPE_CHECKING:
    from openretina_core.testing.contract import DatasetPluginContract
    from openretina_core.testing.damage import DAMAGE_KINDS, assert_names_file, damage_file
    from openretina_core.testing.environment import HOST_VARIABLES, isolate_downloads
    from openretina_core.testing.http import (
        LocalFileServer,
        RequestRecord,
        ServedFile,
        run_concurrent_fetches,
        start_fetch_process,
        zip_folder,
    )

_EXPORTS = {
    "DatasetPluginContract": ".contract",
    **dict.fromkeys(["DAMAGE_KINDS", "assert_names_file", "damage_file"], ".damage"),
    **dict.fromkeys(["HOST_VARIABLES", "isolate_downloads"], ".environment"),
    **dict.fromkeys(
        [
            "LocalFileServer",
            "RequestRecord",
            "ServedFile",
            "run_concurrent_fetches",
            "start_fetch_process",
            "zip_folder",
        ],
        ".http",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "DAMAGE_KINDS",
    "HOST_VARIABLES",
    "DatasetPluginContract",
    "LocalFileServer",
    "RequestRecord",
    "ServedFile",
    "assert_names_file",
    "damage_file",
    "isolate_downloads",
    "run_concurrent_fetches",
    "start_fetch_process",
    "zip_folder",
]
