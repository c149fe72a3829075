"""``openretina-data prepare NAME``: write a dataset's prepared store once (for clusters and big datasets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _parse_option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"expected KEY=VALUE, received {text!r}", param_hint="--option")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # a plain string, e.g. species=mouse
    return key.strip(), value


@click.command("prepare")
@click.argument("name")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--no-download", is_flag=True, help="Use only files already in the cache or in --data-dir.")
@click.option("--option", "-o", "options", multiple=True, help="A dataset option KEY=VALUE (repeatable).")
def prepare_command(name: str, data_dir: Path | None, no_download: bool, options: tuple[str, ...]) -> None:
    """Prepare NAME's sessions as memory-mapped files, so every later load maps them and reads nothing."""
    from openretina_core.cli.cache_commands import human_size
    from openretina_core.registry.tables import UnknownDatasetError
    from openretina_core.store.by_name import prepare

    parsed = dict(_parse_option(text) for text in options)
    try:
        entries = prepare(name, data_dir=data_dir, download=not no_download, **parsed)
    except (UnknownDatasetError, FileNotFoundError, ValueError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not entries:
        click.echo(f"{name}: this dataset's plugin reads into memory; nothing was prepared")
        return
    for entry in entries:
        click.echo(f"{entry.session:<40} {human_size(entry.bytes):>11}  {entry.path}")
    click.echo(f"{name}: {len(entries)} prepared entries, {human_size(sum(e.bytes for e in entries))}")


def register_commands(group: click.Group) -> None:
    group.add_command(prepare_command)
