"""The files wing: published files on disk, verified.

Owns fetching (streamed HTTP with Range resume, hashes computed while streaming, retries, mirrors and host
overrides, Hugging Face's conventions and folder listings, published file lists), the cache layout and its stamps, safe archive extraction, cross-process locks, partial downloads,
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
    from openretina_core.files.extracted import drop_record, intact_files, record_extracted
    from openretina_core.files.fetch import DiskFullError
    from openretina_core.files.hub_tree import (
        ListingError,
        TreeEntry,
        TreeListing,
        cached_listing,
        list_tree,
    )
    from openretina_core.files.partials import partial_beside, sweep_beside
    from openretina_core.files.progress import byte_bar, progress_enabled
    from openretina_core.files.published import (
        PublishedFiles,
        files_from_mirror,
        listed_info,
        published_files,
        register_file_lister,
    )

_EXPORTS = {
    **dict.fromkeys(["UnsafeArchiveError", "list_members"], ".archives"),
    **dict.fromkeys(["cache_root", "dataset_cache_dir"], ".cache"),
    **dict.fromkeys(
        [
            "CorruptFileError",
            "HashMismatchError",
            "OfflineError",
            "fetch_dataset",
            "files_from_mirror",
            "is_offline",
            "prepare_dataset",
            "select_files",
            "verify_dataset",
        ],
        ".download",
    ),
    "DiskFullError": ".fetch",
    **dict.fromkeys(["drop_record", "intact_files", "record_extracted"], ".extracted"),
    **dict.fromkeys(["partial_beside", "sweep_beside"], ".partials"),
    **dict.fromkeys(["ListingError", "TreeEntry", "TreeListing", "cached_listing", "list_tree"], ".hub_tree"),
    **dict.fromkeys(
        ["PublishedFiles", "files_from_mirror", "listed_info", "published_files", "register_file_lister"],
        ".published",
    ),
    **dict.fromkeys(["byte_bar", "progress_enabled"], ".progress"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "CorruptFileError",
    "DiskFullError",
    "HashMismatchError",
    "ListingError",
    "OfflineError",
    "PublishedFiles",
    "TreeEntry",
    "TreeListing",
    "UnsafeArchiveError",
    "byte_bar",
    "cache_root",
    "cached_listing",
    "dataset_cache_dir",
    "drop_record",
    "fetch_dataset",
    "files_from_mirror",
    "intact_files",
    "is_offline",
    "list_members",
    "list_tree",
    "listed_info",
    "partial_beside",
    "prepare_dataset",
    "progress_enabled",
    "published_files",
    "record_extracted",
    "register_file_lister",
    "select_files",
    "sweep_beside",
    "verify_dataset",
]
