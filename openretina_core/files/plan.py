"""What a download will fetch, said before it starts: sessions/files, bytes, and what is already cached.

Sizes come from the card (``RemoteFile.size``) or the cached hub listing (its LFS sizes); "size unknown" where
neither knows. "Cached" is judged from stamps only (nothing is hashed here; the download verifies).
"""

from __future__ import annotations

from collections.abc import Iterable

from attrs import define

from openretina_core.files.cache import dataset_cache_dir, read_record
from openretina_core.files.download import select_files
from openretina_core.files.extracted import check_extracted, read_marker
from openretina_core.files.hub_tree import listed_entry
from openretina_core.files.published import Mode, PublishedFiles, published_files
from openretina_core.registry.specs import DatasetInfo, RemoteFile


def human_size(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{nbytes} B"


@define(frozen=True)
class PlannedUnit:
    """One session (or one file when the dataset names no sessions): its group, bytes, and whether cached."""

    name: str
    group: str | None
    files: tuple[RemoteFile, ...]
    size: int | None  # None: at least one file's size is unknown
    cached: bool


@define(frozen=True)
class DownloadPlan:
    dataset_id: str
    source: str
    complete: bool
    kind: str  # "session" or "file"
    units: tuple[PlannedUnit, ...]

    def _total(self, units: Iterable[PlannedUnit]) -> str:
        chosen = list(units)
        known = sum(u.size for u in chosen if u.size is not None)
        unknown = sum(u.size is None for u in chosen)
        if unknown == len(chosen) and chosen:
            return "size unknown"
        return human_size(known) + (f" + {unknown} {self.kind}(s) of unknown size" if unknown else "")

    def lines(self) -> list[str]:
        """The statement printed before a download."""
        files = sum(len(u.files) for u in self.units)
        todo = [u for u in self.units if not u.cached]
        cached = [u for u in self.units if u.cached]
        out = [
            f"{self.dataset_id}: {len(self.units)} {self.kind}(s) ({files} file(s), {self._total(self.units)}), "
            f"from {self.source}"
        ]
        if not self.complete:
            out.append("  note: the host's listing was not available; these are the names known offline")
        width = max((len(u.name) for u in self.units), default=0)
        for u in self.units:
            size = human_size(u.size) if u.size is not None else "size unknown"
            state = "cached" if u.cached else "to download"
            out.append(f"  {u.group or '-':<9} {u.name:<{width}}  {size:>12}  {state}")
        if cached:
            out.append(f"already cached: {len(cached)} {self.kind}(s), {self._total(cached)}")
        out.append(
            f"to download: {len(todo)} {self.kind}(s), {self._total(todo)}"
            if todo
            else f"to download: nothing, every {self.kind} is cached"
        )
        return out


def _size(dataset_id: str, remote: RemoteFile) -> int | None:
    if remote.size is not None:
        return remote.size
    entry = listed_entry(dataset_id, remote.urls) if remote.urls else None
    return entry.size if entry else None


def _cached(dataset_id: str, remote: RemoteFile) -> bool:
    root = dataset_cache_dir(dataset_id)
    if remote.extract:
        folder = root / remote.extracted_dir
        if read_marker(folder) is not None and not check_extracted(folder):
            return True
    path = root / remote.relative_path
    record = read_record(root, remote.relative_path)
    try:
        return record is not None and record.matches(path.stat())
    except OSError:
        return False


def plan_download(
    info: DatasetInfo, groups: Iterable[str] | None = None, mode: Mode = "refresh"
) -> tuple[DatasetInfo, DownloadPlan]:
    """The dataset with its published files (the lister's, in ``mode``) and what downloading it will do."""
    from attrs import evolve

    published: PublishedFiles = published_files(info, mode)
    listed = evolve(info, files=published.files)
    chosen = {f.relative_path: f for f in select_files(listed, groups)}
    grouping = {s: paths for s, paths in published.sessions.items() if any(p in chosen for p in paths)}
    named = {p for paths in grouping.values() for p in paths}
    units_files = [(s, [chosen[p] for p in paths if p in chosen]) for s, paths in sorted(grouping.items())]
    units_files += [(rel, [f]) for rel, f in chosen.items() if rel not in named]
    units = []
    for name, remotes in units_files:
        sizes = [_size(info.id, r) for r in remotes]
        total = None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)
        cached = all(_cached(info.id, r) for r in remotes)
        units.append(PlannedUnit(name, remotes[0].group, tuple(remotes), total, cached))
    kind = "session" if grouping else "file"
    return listed, DownloadPlan(info.id, published.source, published.complete, kind, tuple(units))
