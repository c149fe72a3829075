"""The files wing: published files on disk, verified.

Owns fetching (streamed HTTP with Range resume, hashes computed while streaming, retries, mirrors and host
overrides), the cache layout and its stamps, safe archive extraction, cross-process locks, partial downloads,
and byte progress bars.

Imports: ``openretina_core.registry`` only (never ``data``, ``cli`` or ``testing``). Plugins import from this
module only: ``from openretina_core.files import fetch_dataset, cache_root``.
"""

from typing import TYPE_CHECKING

from openretina_core.registry.lazy import lazy_exports

if TYPE_CHECKING:
    from openretina_core.files.archives import UnsafeArchiveError, list_members
    from openretina_core.files.cache import cache_root, dataset_cache_dir
    from openretina_core.files.download import (
        CorruptFileError,
        HashMismatchError,
        OfflineError,
        fetch_dataset,
        is_offline,
        prepare_dataset,
        select_files,
        verify_dataset,
    )
    from openretina_core.files.fetch import DiskFullError
    from openretina_core.files.progress import byte_bar, progress_enabled

_EXPORTS = {
    **dict.fromkeys(["UnsafeArchiveError", "list_members"], ".archives"),
    **dict.fromkeys(["cache_root", "dataset_cache_dir"], ".cache"),
    **dict.fromkeys(
        [
            "CorruptFileError",
            "HashMismatchError",
            "OfflineError",
            "fetch_dataset",
            "is_offline",
            "prepare_dataset",
            "select_files",
            "verify_dataset",
        ],
        ".download",
    ),
    "DiskFullError": ".fetch",
    **dict.fromkeys(["byte_bar", "progress_enabled"], ".progress"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "CorruptFileError",
    "DiskFullError",
    "HashMismatchError",
    "OfflineError",
    "UnsafeArchiveError",
    "byte_bar",
    "cache_root",
    "dataset_cache_dir",
    "fetch_dataset",
    "is_offline",
    "list_members",
    "prepare_dataset",
    "progress_enabled",
    "select_files",
    "verify_dataset",
]
