"""Find the response HDF5 and the stimulus pickle: an explicit file, a user's folder, or the cache.

A folder is searched for the published layout with the archives extracted either in place
(``responses/rgc_natstim_2024-08-14.h5``) or into a folder named like the archive (what the download cache
does: ``responses/rgc_natstim_2024-08-14/<file inside the zip>``).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from openretina_core import BadDataError
from openretina_hoefling_2024 import constants as c


def _search(
    root: Path, relative_file: str, suffixes: tuple[str, ...], what: str
) -> tuple[Path | None, list[Path]]:
    """The published file under ``root`` (or ``None``) and every path that was looked at."""
    stem = PurePosixPath(relative_file).with_suffix("")
    in_place = [root / stem.with_suffix(s) for s in suffixes]
    folder = root / stem
    flat = [root / stem.with_suffix(s).name for s in suffixes]
    looked = [*in_place, folder / "*", *flat]
    for candidate in in_place:
        if candidate.is_file():
            return candidate, looked
    if folder.is_dir():
        inside = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        if len(inside) > 1:
            raise BadDataError(f"{what}: expected one file in {folder}, found {[str(p) for p in inside]}")
        if inside:
            return inside[0], looked
    for candidate in flat:
        if candidate.is_file():
            return candidate, looked
    return None, looked


def _locate(
    relative_file: str,
    suffixes: tuple[str, ...],
    what: str,
    group: str,
    path: str | Path | None,
    data_dir: str | Path | None,
    download: bool,
) -> Path:
    from openretina_core.files import fetch_dataset
    from openretina_hoefling_2024.card import INFO

    source = path if path is not None else data_dir
    if source is not None:
        source = Path(source).expanduser()
        if source.is_file():
            return source
        if not source.exists():
            raise FileNotFoundError(
                f"{what}: {str(source)!r} does not exist. Pass the published file, or a folder holding "
                f"{relative_file!r} (the archive extracted), or use download=True to fetch it into the cache."
            )
        root = source
    else:
        root = fetch_dataset(INFO, download=download, groups=[group])
    found, looked = _search(root, relative_file, suffixes, what)
    if found is None:
        listing = "\n  ".join(str(p) for p in looked)
        raise FileNotFoundError(
            f"{what} not found under {str(root)!r}; looked for:\n  {listing}\n"
            f"Pass download=True to fetch it into the cache, or data_dir= / a file path pointing at a local copy."
        )
    return found


def locate_responses(
    path: str | Path | None = None,
    data_dir: str | Path | None = None,
    download: bool = False,
    subset: bool = False,
) -> Path:
    """The response HDF5 (``subset=True``: the small published subset with natural spikes only)."""
    relative = c.RESPONSES_SUBSET_FILE if subset else c.RESPONSES_FILE
    group = c.GROUP_RESPONSES_SUBSET if subset else c.GROUP_RESPONSES
    return _locate(relative, c.RESPONSE_SUFFIXES, "Höfling 2024 responses", group, path, data_dir, download)


def locate_stimulus(
    path: str | Path | None = None,
    data_dir: str | Path | None = None,
    download: bool = False,
    resolution: str = "18x16",
) -> Path:
    """The stimulus pickle for ``resolution`` ("18x16" or "72x64")."""
    if resolution not in c.STIMULUS_FILES:
        raise BadDataError(f"resolution must be one of {list(c.STIMULUS_FILES)}, got {resolution!r}")
    return _locate(
        c.STIMULUS_FILES[resolution],
        c.PICKLE_SUFFIXES,
        f"Höfling 2024 stimulus ({resolution})",
        c.GROUP_STIMULUS[resolution],
        path,
        data_dir,
        download,
    )
