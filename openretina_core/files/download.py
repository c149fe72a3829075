"""Locate a dataset's files: a user's folder, or the cache, downloading and verifying them when asked.

``fetch_dataset`` is the one entry point every plugin uses. For each :class:`~openretina_core.registry.specs.RemoteFile`
it trusts a cached file whose stamp is unchanged, otherwise re-hashes it; downloads missing files (from a lab
mirror, or each published URL in turn) into a process-unique partial file, verifies the hash computed while
streaming, and renames it into place; then extracts archives. Everything is checked locally first, so a fully
cached dataset never touches the network. See ``docs/downloads.md``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from openretina_core.files import hub, locks, partials
from openretina_core.files.archives import extract_archive
from openretina_core.files.cache import (
    CACHE_ENV,
    FileState,
    cache_root,
    check_file,
    dataset_cache_dir,
    invalidate_stamp,
    partial_dir,
    read_record,
    stamp_record,
)
from openretina_core.files.extracted import check_extracted, is_extracted, read_marker
from openretina_core.files.fetch import (
    DiskFullError,
    DownloadError,
    FetchResult,
    IntegrityError,
    UrlFailedError,
    download_url,
)
from openretina_core.files.hosts import candidate_urls, only_on_hub_offline
from openretina_core.files.hub_tree import TreeEntry, listed_entry
from openretina_core.files.published import listed_info
from openretina_core.registry.errors import OpenRetinaDataError
from openretina_core.registry.specs import DatasetInfo, RemoteFile

logger = logging.getLogger(__name__)

__all__ = [
    "CACHE_ENV",
    "CorruptFileError",
    "DiskFullError",
    "DownloadError",
    "HashMismatchError",
    "IntegrityError",
    "OfflineError",
    "cache_root",
    "dataset_cache_dir",
    "fetch_dataset",
    "is_offline",
    "prepare_dataset",
    "select_files",
    "verify_dataset",
]

OFFLINE_ENV = "OPENRETINA_OFFLINE"


class OfflineError(OpenRetinaDataError, FileNotFoundError):
    """Files are missing and ``OPENRETINA_OFFLINE=1`` forbids fetching them."""


class HashMismatchError(IntegrityError):
    """A download's sha256 differs from the declared, host-published or recorded one."""


class CorruptFileError(IntegrityError):
    """A cached file no longer matches its hash."""


def is_offline() -> bool:
    return hub.env_flag(OFFLINE_ENV)


def select_files(info: DatasetInfo, groups: Iterable[str] | None = None) -> list[RemoteFile]:
    """The dataset's files in the given groups (files without a group are always included)."""
    wanted = set(groups) if groups is not None else None
    return [f for f in info.files if wanted is None or f.group is None or f.group in wanted]


# --- one file --------------------------------------------------------------------------------------------


def _listed(root: Path, remote: RemoteFile) -> TreeEntry | None:
    """The cached hub listing's entry for this file (its LFS sha256 and size), if a listing covers it."""
    return listed_entry(root.name, remote.urls) if remote.urls else None


def _known_hash(root: Path, remote: RemoteFile) -> str | None:
    if remote.sha256:
        return remote.sha256.lower()
    record = read_record(root, remote.relative_path)
    if record is not None:
        return record.sha256
    entry = _listed(root, remote)
    return entry.sha256 if entry else None


def _corrupt_error(dataset_id: str, state: FileState) -> CorruptFileError:
    return CorruptFileError(
        f"cached file {state.path} of dataset {dataset_id!r} is corrupt ({state.reason}; "
        f"sha256 {state.actual}, expected {state.expected}). Pass download=True (or run "
        f"`openretina-data download {dataset_id}`) to fetch it again."
    )


def _expected(root: Path, remote: RemoteFile, result: FetchResult) -> tuple[str | None, str]:
    """The hash a download must have, and its source (stored in the record)."""
    if remote.sha256:
        return remote.sha256.lower(), "declared"
    record = read_record(root, remote.relative_path)
    if record is not None:
        return record.sha256, record.source
    entry = _listed(root, remote)
    if entry is not None and entry.sha256:
        return entry.sha256, "host-listing"
    if result.host_sha256:
        return result.host_sha256, "host"
    return None, "first-download"


def _install(
    root: Path, dataset_id: str, remote: RemoteFile, partial: Path, result: FetchResult, source: str
) -> None:
    rel = remote.relative_path
    final = root / rel
    final.parent.mkdir(parents=True, exist_ok=True)
    record = read_record(root, rel)
    if (
        final.exists()
        and record is not None
        and record.matches(final.stat())
        and record.sha256 == result.sha256
    ):
        partials.release(partial, delete=True)  # another process installed the same bytes meanwhile
        return
    os.replace(partial, final)
    partials.release(partial, delete=True)
    stamp_record(root, final, rel, result.sha256, source, result.url)
    if source == "first-download":
        logger.warning(
            "%s of dataset %r has no published hash; recorded sha256 %s from %s (trust on first use): later "
            "loads verify against it",
            rel,
            dataset_id,
            result.sha256,
            result.url,
        )
    partials.sweep(root, rel)


def _download(root: Path, dataset_id: str, remote: RemoteFile) -> None:
    """Fetch one file from its URLs in order; the cache is only touched by the final atomic rename."""
    rel = remote.relative_path
    urls = candidate_urls(dataset_id, remote)
    if not urls:
        raise ValueError(f"dataset {dataset_id!r} declares no URL for {rel!r}")
    known = _known_hash(root, remote)
    listed = _listed(root, remote) if remote.size is None else None
    expected_size = remote.size if remote.size is not None else (listed.size if listed else None)
    failures: list[str] = []
    mismatch = False
    for url in urls:
        for fresh in (False, True):
            partial = partials.claim(root, rel, adopt=not fresh)
            try:
                result = download_url(
                    url,
                    partial,
                    expected_size=expected_size,
                    resume_without_validator=known is not None,
                    desc=rel,
                )
            except UrlFailedError as exc:
                partials.release(partial, delete=exc.integrity)  # else a later call may resume it
                failures.append(f"{url}: {exc.reason}")
                mismatch = mismatch or exc.integrity
                break
            except DiskFullError:
                partials.release(partial, delete=True)
                raise
            except BaseException:
                partials.release(partial, delete=False)
                raise
            want, source = _expected(root, remote, result)
            problem = None
            if expected_size is not None and result.size != expected_size:
                problem = f"{result.size} bytes, expected {expected_size}"
            elif want is not None and result.sha256 != want:
                problem = f"sha256 {result.sha256}, expected {want} ({source})"
            if problem is None:
                _install(root, dataset_id, remote, partial, result, source)
                return
            partials.release(partial, delete=True)
            if result.resumed and not fresh:
                logger.warning(
                    "resumed download of %s from %s is wrong (%s); starting over", rel, url, problem
                )
                continue
            failures.append(f"{url}: {problem}")
            mismatch = True
            break
    listing = "\n  ".join(failures)
    message = f"could not download {rel!r} of dataset {dataset_id!r}:\n  {listing}"
    if mismatch:
        raise HashMismatchError(
            f"{message}\nThe cache was left untouched. If the file legitimately changed upstream, run "
            f"`openretina-data cache clean {dataset_id}` to forget its recorded hash."
        )
    raise DownloadError(f"{message}\nCheck the network, or set OPENRETINA_MIRROR_URL to a mirror.")


def _file_ready(root: Path, dataset_id: str, remote: RemoteFile, download: bool) -> bool:
    state = check_file(root, remote)
    if state.status == "ok":
        return True
    if state.status == "corrupt":
        if not download:
            raise _corrupt_error(dataset_id, state)
        logger.warning("cached %s is corrupt (%s); downloading it again", state.path, state.reason)
    return False


def _extracted_ready(root: Path, remote: RemoteFile) -> bool:
    """Whether the extracted folder is complete and unchanged (stamps only, nothing read). A folder with a
    missing or modified file is extracted again from the verified archive: never served damaged, never a
    silently missing session."""
    folder = root / remote.extracted_dir
    if read_marker(folder) is None or not is_extracted(folder, _known_hash(root, remote)):
        return False
    problems = check_extracted(folder)
    if problems:
        logger.warning("%s: %s; extracting it again", folder, "; ".join(problems[:3]))
        return False
    return True


def _extract(root: Path, remote: RemoteFile) -> None:
    folder_name = remote.extracted_dir
    watch = functools.partial(locks.extraction_signature, root, folder_name)
    with locks.file_lock(root, folder_name, ".extract.lock", watch):
        if _extracted_ready(root, remote):
            return
        sha = _known_hash(root, remote)
        if sha is None:  # cannot happen after a verified download; re-check to record it
            sha = check_file(root, remote).actual or ""
        extract_archive(
            root / remote.relative_path,
            root / folder_name,
            archive_sha256=sha,
            work_dir=partial_dir(root) / Path(folder_name).parent,
        )


def _ready_locally(root: Path, dataset_id: str, remote: RemoteFile, download: bool) -> bool:
    """Make ``remote`` usable from the cache alone (extracting a cached archive); False: fetch it."""
    if remote.extract and _extracted_ready(root, remote):
        return True
    if not _file_ready(root, dataset_id, remote, download):
        return False
    if remote.extract:
        _extract(root, remote)
    return True


def _missing_message(dataset_id: str, root: Path, missing: list[RemoteFile]) -> str:
    listing = "\n  ".join(str(root / (m.extracted_dir if m.extract else m.relative_path)) for m in missing)
    return f"dataset {dataset_id!r} is not in the cache; missing:\n  {listing}"


def fetch_dataset(
    info: DatasetInfo,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    groups: Iterable[str] | None = None,
) -> Path:
    """Return the folder holding the dataset's files as published (archives extracted).

    With ``data_dir``, that folder is used as is (it must exist; nothing is written to it). Otherwise the
    files live in ``<cache>/<dataset id>/``; missing files are downloaded when ``download`` is true (unless
    ``OPENRETINA_OFFLINE=1``), and otherwise reported with the paths that were looked for.
    """
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"data_dir {str(path)!r} for dataset {info.id!r} does not exist")
        return path
    root = dataset_cache_dir(info.id)
    remotes = select_files(info, groups)
    missing = [r for r in remotes if not _ready_locally(root, info.id, r, download)]
    if not missing:
        return root
    if not download:
        raise FileNotFoundError(
            f"{_missing_message(info.id, root, missing)}\nPass download=True (or run "
            f"`openretina-data download {info.id}`) to fetch it, or data_dir= to point at a local copy."
        )
    if is_offline():
        raise OfflineError(
            f"{_missing_message(info.id, root, missing)}\n{OFFLINE_ENV}=1 forbids network access. "
            f"Download on a machine with network access (`openretina-data download {info.id}`) into a shared "
            f"{CACHE_ENV}, or set OPENRETINA_MIRROR_URL to a local mirror and unset {OFFLINE_ENV}."
        )
    on_hub = [r for r in missing if only_on_hub_offline(info.id, r)]
    if on_hub:
        raise OfflineError(
            f"{_missing_message(info.id, root, on_hub)}\nThese files are on Hugging Face and {hub.HUB_OFFLINE_ENV}=1 "
            f"(Hugging Face offline mode) forbids asking the hub: nothing was requested. Unset "
            f"{hub.HUB_OFFLINE_ENV} to download them, or set OPENRETINA_MIRROR_URL to a local mirror."
        )
    for remote in missing:
        rel = remote.relative_path
        with locks.file_lock(root, rel, ".lock", functools.partial(partials.progress_signature, root, rel)):
            if not _file_ready(root, info.id, remote, download=True):
                _download(root, info.id, remote)
        if remote.extract:
            _extract(root, remote)
    return root


def prepare_dataset(name: str, *, groups: Iterable[str] | None = None) -> Path:
    """Download a registered dataset before training (once, e.g. on a login node or in ``prepare_data``)."""
    from openretina_core.registry.tables import get_dataset_spec

    info = listed_info(get_dataset_spec(name).info, "refresh")
    return fetch_dataset(info, download=True, groups=groups)


def verify_dataset(info: DatasetInfo, groups: Iterable[str] | None = None) -> list[FileState]:
    """Re-hash every cached file of a dataset (and check extracted folders); a bad file's stamp is dropped.

    Statuses: ``ok``, ``missing``, ``corrupt`` (hash/size mismatch or incomplete extraction) and
    ``unverified`` (present, but no hash is known to compare with).
    """
    root = dataset_cache_dir(info.id)
    states = []
    info = listed_info(info, "cache")  # every published file a listing names, not only the card's
    for remote in select_files(info, groups):
        state = check_file(root, remote, rehash=True, record_unknown=False)
        if state.status == "corrupt":
            invalidate_stamp(root, remote.relative_path)
        states.append(state)
        folder = root / remote.extracted_dir
        if remote.extract and folder.exists():
            problems = check_extracted(folder, rehash=True)
            marker = read_marker(folder) or {}
            known = _known_hash(root, remote)
            if known and marker and marker.get("archive_sha256") != known:
                problems.append(f"{folder} was extracted from a different archive")
            reason = "; ".join(problems)
            extracted = FileState(
                "corrupt" if problems else "ok", folder, remote.extracted_dir + "/", reason=reason
            )
            states.append(extracted)
    return states
