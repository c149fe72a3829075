"""``openretina-data``: list, inspect, fetch and demo the installed datasets."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from openretina_core.registry import tables as registry
from openretina_core.registry.errors import PluginError


@click.group()
@click.version_option(package_name="openretina-core", prog_name="openretina-data")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Data input/output for retina models: published datasets by name."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(as_json: bool) -> None:
    """Installed datasets and stimulus generators, and published datasets whose plugin is not installed."""
    from openretina_core.cli.listing import listing, render_listing

    found = listing()
    click.echo(json.dumps(found, indent=2) if as_json else render_listing(found))


@main.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The whole card as JSON.")
def info_command(name: str, as_json: bool) -> None:
    """The dataset card of NAME, with its BibTeX."""
    try:
        info = registry.get_dataset_spec(name).info
    except registry.UnknownDatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(info.as_dict(), indent=2, default=str))
        return
    click.echo(f"{info.title}\n{'=' * min(len(info.title), 100)}")
    lines = [
        ("id", info.id),
        ("authors", ", ".join(info.authors)),
        ("year", str(info.year)),
        ("DOI", info.doi or "-"),
        ("paper", info.paper_url or "-"),
        ("data", ", ".join(info.data_urls) or "-"),
        ("license", info.license or "not stated"),
        ("species", ", ".join(info.species)),
        ("recording", info.recording_modality),
        ("stimuli", ", ".join(info.stimulus_types)),
        (
            "frame rate (Hz)",
            json.dumps(info.frame_rate_hz)
            if isinstance(info.frame_rate_hz, dict)
            else str(info.frame_rate_hz),
        ),
        ("responses", info.response_unit),
        (
            "pixel size",
            json.dumps(info.pixel_size, ensure_ascii=False) + f" {info.pixel_unit}"
            if isinstance(info.pixel_size, dict)
            else f"{info.pixel_size} {info.pixel_unit}"
            if info.pixel_size is not None
            else "not stated (figures in pixels)",
        ),
        ("channels", ", ".join(info.channel_names) or "-"),
        ("plugin", f"{info.distribution} {info.version or ''}".strip()),
        ("install", info.pip_command),
    ]
    for key, value in lines:
        click.echo(f"{key:>16}: {value}")
    if info.shapes:
        click.echo(f"{'shapes':>16}: {json.dumps(dict(info.shapes), default=str)}")
    for remote in info.files:
        sha = remote.sha256[:12] + "..." if remote.sha256 else "hash unknown (recorded on first download)"
        click.echo(f"{'file':>16}: {remote.relative_path} [{sha}]")
    for note in info.notes:
        click.echo(f"{'note':>16}: {note}")
    if info.description:
        click.echo(f"\n{info.description}")
    if info.bibtex:
        click.echo(f"\n{info.bibtex.strip()}")


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True)
def plugins_command(as_json: bool) -> None:
    """Installed plugins with their versions, hooks and load errors."""
    from openretina_core.registry.manager import get_plugin_state

    state = get_plugin_state()
    problems: list[str] = []
    try:
        registry.list_datasets()  # run the register hooks so their failures are recorded too
        registry.list_stimuli()
    except (registry.DuplicateNameError, PluginError) as exc:  # strict mode, or two plugins claiming a name
        problems.append(str(exc))
    records = [
        {
            "name": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "module": p.module,
            "hooks": p.hooks,
            "error": f"{type(p.error).__name__}: {p.error}" if p.error else None,
            "hook_errors": dict(p.hook_errors),
        }
        for p in state.loaded
    ]
    if as_json:
        click.echo(json.dumps(records, indent=2))
    else:
        if not records:
            click.echo("No plugins installed (only the built-in defaults).")
        for plugin in state.loaded:
            if plugin.error is not None:
                status = f"FAILED to load: {type(plugin.error).__name__}: {plugin.error}"
            elif plugin.hook_errors:
                status = "FAILED in " + "; ".join(
                    f"{hook}: {why}" for hook, why in plugin.hook_errors.items()
                )
            else:
                status = ", ".join(plugin.hooks)
            click.echo(f"{plugin.name:<24} {plugin.distribution or '?'} {plugin.version or ''}  {status}")
    for problem in problems:
        click.echo(f"ERROR: {problem}", err=True)
    if problems or not all(plugin.healthy for plugin in state.loaded):
        sys.exit(1)  # scripts and CI can tell a broken installation


@main.command("demo")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the figures and samples (default: ./openretina-demo).",
)
@click.option("--dataset", "datasets", multiple=True, help="Only these datasets (repeatable).")
@click.option("--batch-size", default=16, show_default=True)
@click.option("--device", default=None, help="cpu, cuda, auto (default: keep batches on the CPU).")
def demo_command(output: Path | None, datasets: tuple[str, ...], batch_size: int, device: str | None) -> None:
    """Write each installed dataset's synthetic sample, load it by name, run one epoch, draw its figures."""
    from openretina_core.cli.demo import DEFAULT_OUTPUT, PLOTS_INSTALL, demo_report, format_table, run_demo

    out = output or DEFAULT_OUTPUT
    try:
        results = run_demo(out, datasets or None, batch_size=batch_size, device=device)
    except (RuntimeError, registry.UnknownDatasetError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(format_table(results))
    for line in demo_report(results):
        click.echo(line)
    if not any(result.figures for result in results):
        click.echo(f"figures: not drawn, matplotlib is not installed ({PLOTS_INSTALL})")
    click.echo(f"output: {out.resolve()}")


def _register_optional_groups() -> None:
    from openretina_core.cli import cache_commands, create_data, new_plugin, prepare_command, preview_command

    cache_commands.register_commands(main)
    prepare_command.register_commands(main)
    create_data.register_commands(main)
    new_plugin.register_commands(main)
    preview_command.register_commands(main)


_register_optional_groups()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
