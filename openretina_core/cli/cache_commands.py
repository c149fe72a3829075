"""CLI commands for the download cache: ``download``, ``verify`` and ``cache info|clean``.

The lead's ``openretina_core.cli.commands`` adds them to its group through :func:`register_commands`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import click

from openretina_core.registry.specs import DatasetInfo


def human_size(nbytes: int) -> str:
    """Bytes in binary units, as the cache commands print them."""
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{nbytes} B"


def _info(name: str) -> DatasetInfo:
    from openretina_core.registry.tables import UnknownDatasetError, get_dataset_spec

    try:
        return get_dataset_spec(name).info
    except UnknownDatasetError as exc:
        raise click.ClickException(str(exc)) from exc


def _groups(info: DatasetInfo, species: Iterable[str]) -> list[str] | None:
    """``--species`` values as file groups, refusing names the dataset does not have."""
    chosen = list(species)
    if not chosen:
        return None
    valid = sorted({f.group for f in info.files if f.group})
    unknown = [s for s in chosen if s not in valid]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)} not among the file groups of {info.id}: {', '.join(valid) or '(none)'}",
            param_hint="--species",
        )
    return chosen


def _few(names: Sequence[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


@click.command("download")
@click.argument("name")
@click.option("--species", multiple=True, help="Only the files of this species/group (repeatable).")
def download_command(name: str, species: tuple[str, ...]) -> None:
    """Download (and verify, and extract) dataset NAME into the cache; run it before training.

    It first says what it will fetch: every published session or file (from the host's listing where the dataset
    has one, else its card), the bytes, and which are already cached."""
    from openretina_core.files.download import fetch_dataset, select_files
    from openretina_core.files.plan import plan_download

    info = _info(name)
    groups = _groups(info, species)
    listed, plan = plan_download(info, groups)
    for line in plan.lines():
        click.echo(line)
    try:
        path = fetch_dataset(listed, download=True, groups=groups)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    count = len(select_files(listed, groups))
    click.echo(f"{name}: {count} file(s) ready in {path}")


def _verify_other_extractions(dataset_id: str, reported: set[Path]) -> int:
    """Extracted folders no published archive accounts for (a plugin's copies out of a user's zips): re-hashed,
    a damaged one's marker dropped so the next load extracts it again. Returns how many are damaged."""
    from openretina_core.files.cache import dataset_cache_dir
    from openretina_core.files.extracted import check_extracted, drop_record, marked_folders

    root, bad = dataset_cache_dir(dataset_id), 0
    for folder in (f for f in marked_folders(root) if f not in reported) if root.is_dir() else ():
        problems = check_extracted(folder, rehash=True)
        if problems:
            drop_record(folder)
        click.echo(
            f"{'CORRUPT' if problems else 'ok':<14} extracted {folder.relative_to(root)}/"
            + (f" ({'; '.join(problems)}; extracted again on the next load)" if problems else "")
        )
        bad += bool(problems)
    return bad


@click.command("verify")
@click.argument("name")
@click.option("--species", multiple=True, help="Only the files of this species/group (repeatable).")
def verify_command(name: str, species: tuple[str, ...]) -> None:
    """Re-hash every cached file of NAME (downloaded, extracted, prepared); exit status 1 if any is corrupt."""
    from openretina_core.files.download import verify_dataset
    from openretina_core.store.layout import list_entries, verify_entry

    info = _info(name)
    states = verify_dataset(info, _groups(info, species))
    bad = 0
    for entry in list_entries(name):  # prepared entries: every file against its recorded sha256
        problems = verify_entry(entry.path) if entry.complete else ["an interrupted preparation"]
        label = "CORRUPT" if problems and entry.complete else ("ok" if not problems else "leftover")
        bundle = f" (bundle of {len(entry.sessions)} sessions)" if entry.sessions else ""
        click.echo(
            f"{label:<14} prepared {entry.session}/{entry.key}{bundle}"
            + (f" ({'; '.join(problems)})" if problems else "")
        )
        bad += bool(problems) and entry.complete
    bad += _verify_other_extractions(info.id, {state.path for state in states})
    for state in states:
        label = {"ok": "ok", "missing": "missing", "corrupt": "CORRUPT", "unverified": "no known hash"}[
            state.status
        ]
        detail = f" ({state.reason})" if state.reason else ""
        if state.status == "corrupt" and state.actual and state.expected:
            detail = f" (sha256 {state.actual}, expected {state.expected})"
        click.echo(f"{label:<14} {state.relative_path}{detail}")
        bad += state.status == "corrupt"
    if all(s.status == "missing" for s in states):
        click.echo(f"nothing of {name} is cached; run `openretina-data download {name}`")
    if bad:
        raise click.ClickException(
            f"{bad} corrupt item(s); run `openretina-data download {name}` to fetch them again (damaged prepared "
            f"entries are rebuilt on the next load, or remove them: `openretina-data cache clean {name} --prepared`)"
        )


@click.group("cache")
def cache_group() -> None:
    """Inspect and clean the download cache."""


@cache_group.command("info")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cache_info_command(name: str | None, as_json: bool) -> None:
    """Where the cache is, and what is in it (per dataset, or per file of NAME)."""
    from openretina_core.files.cache import cache_root, cached_files, check_dataset_id, list_cached
    from openretina_core.store.layout import list_entries

    root = cache_root()
    usages = list_cached(root)
    if name is not None:
        usages = [u for u in usages if u.dataset_id == check_dataset_id(name)]
        if not usages:
            raise click.ClickException(f"dataset {name!r} is not in the cache {root}")
    if as_json:
        data = {
            "cache": str(root),
            "datasets": [
                {
                    "id": u.dataset_id,
                    "path": str(u.path),
                    "files": u.files,
                    "bytes": u.bytes,
                    "partial_bytes": u.partial_bytes,
                    "prepared": [
                        {
                            "session": e.session,
                            "key": e.key,
                            "bytes": e.bytes,
                            "complete": e.complete,
                            "bundled_sessions": list(e.sessions),
                        }
                        for e in list_entries(u.dataset_id)
                    ],
                }
                for u in usages
            ],
        }
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"cache: {root}")
    if not usages:
        click.echo("(empty)")
        return
    for u in usages:
        partial = f", {human_size(u.partial_bytes)} in partial downloads" if u.partial_bytes else ""
        click.echo(f"{u.dataset_id:<28} {u.files:>6} files {human_size(u.bytes):>11}{partial}  {u.path}")
        entries = list_entries(u.dataset_id)
        if entries:
            click.echo(f"{'':<28} {len(entries):>6} prepared {human_size(sum(e.bytes for e in entries)):>11}")
        if name is not None:
            for rel, size in cached_files(u.path):
                click.echo(f"    {human_size(size):>11}  {rel}")
            for e in entries:
                state = "" if e.complete else "  (interrupted preparation)"
                if e.sessions:
                    state = f"  (bundle of {len(e.sessions)} sessions: {_few(e.sessions)})"
                click.echo(f"    {human_size(e.bytes):>11}  prepared {e.session}/{e.key}{state}")
    if name is None:
        click.echo(
            f"{'total':<28} {sum(u.files for u in usages):>6} files {human_size(sum(u.bytes for u in usages)):>11}"
        )


@cache_group.command("clean")
@click.argument("name", required=False)
@click.option("--all", "clean_all", is_flag=True, help="Every cached dataset.")
@click.option(
    "--partial", is_flag=True, help="Only leftover partial downloads (of NAME, or of all datasets)."
)
@click.option("--prepared", is_flag=True, help="Only NAME's prepared entries (keep the downloaded files).")
@click.option("--session", default=None, help="With --prepared: only this session's entries.")
@click.option(
    "--entry", "entry_key", default=None, help="With --prepared: only the entry whose key starts so."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def cache_clean_command(
    name: str | None,
    clean_all: bool,
    partial: bool,
    prepared: bool,
    session: str | None,
    entry_key: str | None,
    yes: bool,
) -> None:
    """Delete NAME's cached files (or --all, only --partial downloads, or only --prepared entries)."""
    from openretina_core.files.cache import cache_root, clean_dataset, clean_partials, list_cached
    from openretina_core.store.layout import clean_entries, list_entries

    root = cache_root()
    if (session or entry_key) and not prepared:
        raise click.UsageError("--session and --entry select prepared entries: add --prepared")
    if prepared:
        if name is None:
            raise click.UsageError("--prepared needs a dataset NAME")
        if session is not None:
            for usage in list_entries(name):
                if session in usage.sessions and (entry_key is None or usage.key.startswith(entry_key)):
                    click.echo(
                        f"{session} is packed with {len(usage.sessions) - 1} other session(s) in "
                        f"{usage.session}/{usage.key}: removing that whole entry (rebuilt on the next load)"
                    )
        freed = clean_entries(name, session=session, key=entry_key)
        click.echo(f"removed prepared entries of {name}: {human_size(freed)} freed")
        return
    if partial:
        freed = clean_partials(name, root)
        click.echo(f"removed partial downloads: {human_size(freed)} freed")
        return
    if name is None and not clean_all:
        raise click.UsageError("give a dataset NAME, --all, or --partial")
    names = [u.dataset_id for u in list_cached(root)] if clean_all else [str(name)]
    if not names:
        click.echo(f"cache {root} is empty")
        return
    if not yes:
        click.confirm(f"Delete {', '.join(names)} from {root}?", abort=True)
    freed = 0
    for dataset_id in names:
        try:
            freed += clean_dataset(dataset_id, root)
        except (FileNotFoundError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"removed {', '.join(names)}: {human_size(freed)} freed")


def register_commands(group: click.Group) -> None:
    """Add ``download``, ``verify`` and the ``cache`` group to the main CLI."""
    group.add_command(download_command)
    group.add_command(verify_command)
    group.add_command(cache_group)
