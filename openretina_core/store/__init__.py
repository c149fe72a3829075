"""The prepared store: datasets larger than memory, mapped instead of read.

Owns the prepared entries (per session, memory-mappable ``.npy`` arrays plus ``meta.json``, written once and
atomically, keyed by the plugin's parameters, the source files' identity and format versions, with stamps and
digests), the containers built from them, and ``prepare(name, ...)`` for clusters.

Imports: ``openretina_core.data``, ``openretina_core.files`` and ``openretina_core.registry`` (it turns files into
containers, so it sits above both). Plugins import from this module only:
``from openretina_core.store import prepared_session`` (or ``prepared_sessions``: many sessions in one entry).
"""

from typing import TYPE_CHECKING

from openretina_core.registry.lazy import lazy_exports

if TYPE_CHECKING:
    from openretina_core.store.bundles import prepared_sessions, read_bundle, write_bundle
    from openretina_core.store.by_name import prepare, store_enabled
    from openretina_core.store.layout import (
        EntryUsage,
        PreparedArray,
        PreparedEntry,
        StoreIntegrityError,
        StoreWriteError,
        bundle_sessions,
        clean_entries,
        list_entries,
        open_entry,
        store_root,
        verify_entry,
    )
    from openretina_core.store.preparing import prepare_entry, strict_preparation, sweep_orphans
    from openretina_core.store.sessions import prepared_session, read_session, write_session
    from openretina_core.store.writer import EntryWriter

_EXPORTS = {
    **dict.fromkeys(
        [
            "EntryUsage",
            "PreparedArray",
            "PreparedEntry",
            "StoreIntegrityError",
            "StoreWriteError",
            "bundle_sessions",
            "clean_entries",
            "list_entries",
            "open_entry",
            "store_root",
            "verify_entry",
        ],
        ".layout",
    ),
    **dict.fromkeys(["prepare_entry", "strict_preparation", "sweep_orphans"], ".preparing"),
    "EntryWriter": ".writer",
    **dict.fromkeys(["prepared_sessions", "read_bundle", "write_bundle"], ".bundles"),
    **dict.fromkeys(["prepare", "store_enabled"], ".by_name"),
    **dict.fromkeys(["prepared_session", "read_session", "write_session"], ".sessions"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "EntryUsage",
    "EntryWriter",
    "PreparedArray",
    "PreparedEntry",
    "StoreIntegrityError",
    "StoreWriteError",
    "bundle_sessions",
    "clean_entries",
    "list_entries",
    "open_entry",
    "prepare",
    "prepare_entry",
    "prepared_session",
    "prepared_sessions",
    "read_bundle",
    "read_session",
    "store_enabled",
    "store_root",
    "strict_preparation",
    "sweep_orphans",
    "verify_entry",
    "write_bundle",
    "write_session",
]
