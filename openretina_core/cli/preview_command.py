"""``openretina-data preview NAME``: the command line of :mod:`openretina_core.cli.preview`.

Kept apart so that registering the command imports neither torch nor matplotlib (``list`` and ``info`` stay
fast); the loading and drawing are imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_OUTPUT = Path("openretina-preview")  # in the working directory
DEFAULT_MAX_BATCHES = 500


@click.command("preview")
@click.argument("name")
@click.option("--session", default=None, help="The session to show (default: the first).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The dataset's folder as published (default: the cache).",
)
@click.option(
    "--sample", is_flag=True, help="Preview the plugin's synthetic sample (written to a temp folder)."
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Folder for the PNGs.",
)
@click.option("--option", "-o", "options", multiple=True, help="A dataset option KEY=VALUE (repeatable).")
@click.option("--no-download", is_flag=True, help="Use only files already in the cache or in --data-dir.")
@click.option("--batch-size", default=16, show_default=True)
@click.option(
    "--lags",
    type=click.IntRange(min=1),
    default=None,
    help="STA window in frames (default: about 0.5 s, at most half a chunk).",
)
@click.option(
    "--max-batches",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BATCHES,
    show_default=True,
    help="Training batches the STA averages over.",
)
def preview_command(
    name: str,
    session: str | None,
    data_dir: Path | None,
    sample: bool,
    output: Path,
    options: tuple[str, ...],
    no_download: bool,
    batch_size: int,
    lags: int | None,
    max_batches: int,
) -> None:
    """Figures of one session of NAME: stimulus, responses, per-cell STAs and the STA peak-lag check."""
    from openretina_core.cli.figures import PLOTS_INSTALL, plots_available
    from openretina_core.cli.prepare_command import _parse_option
    from openretina_core.cli.preview import draw, load_for_preview
    from openretina_core.registry.errors import OpenRetinaDataError
    from openretina_core.registry.tables import UnknownDatasetError

    if not plots_available():
        raise click.ClickException(
            f"preview draws figures with matplotlib, which is not installed: {PLOTS_INSTALL}"
        )
    parsed = dict(_parse_option(text) for text in options)
    try:
        data = load_for_preview(
            name,
            session=session,
            data_dir=data_dir,
            sample=sample,
            download=not no_download,
            batch_size=batch_size,
            options=parsed,
            lags=lags,
            max_batches=max_batches,
        )
    except (UnknownDatasetError, OpenRetinaDataError, FileNotFoundError, ValueError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc
    for note in data.notes:
        click.echo(f"note: {note}")
    result = draw(data, output, f"{name}_{data.ctx.session}")
    for path in result.figures:
        click.echo(f"figure: {path}")
    if result.lags is not None:
        click.echo(result.lags.message)


def register_commands(group: click.Group) -> None:
    group.add_command(preview_command)
