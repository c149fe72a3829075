"""CLI command ``create-data DIR``: a synthetic example of the generic HDF5 lab format, to copy for your own data.

The writer belongs to the plugin that reads the format (registry name ``hdf5``, distribution
``openretina-hdf5``); the core finds it through the registry and never imports it by name. The main CLI adds the
command through :func:`register_commands`.
"""

from __future__ import annotations

from pathlib import Path

import click

FORMAT_NAME = "hdf5"
FORMAT_DISTRIBUTION = "openretina-hdf5"


def _missing_plugin_message() -> str:
    return (
        f"create-data writes the generic HDF5 lab format, whose reader and writer are the plugin "
        f"{FORMAT_DISTRIBUTION} (dataset name {FORMAT_NAME!r}), and it is not installed. Install it with:\n"
        f'    pip install "openretina-core[{FORMAT_NAME}]"   (or: pip install {FORMAT_DISTRIBUTION})'
    )


def _snapshot(root: Path) -> dict[Path, tuple[int, int]]:
    """``{file: (mtime_ns, size)}`` under ``root``, to tell what the writer wrote from what was there."""
    if not root.is_dir():
        return {}
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


@click.command("create-data")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--num-colors", default=3, show_default=True, help="Colour channels of the stimuli.")
@click.option("--num-stimuli", default=4, show_default=True, help="Stimuli (stimuli/random_noise_<i>.npy).")
@click.option("--num-sessions", default=2, show_default=True, help="Session files (session_<k>.hdf5).")
@click.option(
    "--clip-length", default=75, show_default=True, help="Frames per clip; stimulus i has 70+i clips."
)
@click.option("--seed", default=0, show_default=True, help="Seed of the noise and of the LN model.")
@click.option("--force", is_flag=True, help="Write into a DIRECTORY that is not empty.")
def create_data_command(
    directory: Path,
    num_colors: int,
    num_stimuli: int,
    num_sessions: int,
    clip_length: int,
    seed: int,
    force: bool,
) -> None:
    """Write synthetic data in the generic HDF5 layout into DIRECTORY: shared Gaussian-noise stimuli in
    stimuli/<name>.npy and one <session>.hdf5 per session with LN-model responses and session_info/.

    Put your own recordings in the same layout and load them with
    get_dataloaders("hdf5", data_dir=DIRECTORY, test_names=[...]): no plugin to write.
    """
    from openretina_core.registry.tables import UnknownDatasetError, get_dataset_spec

    try:
        spec = get_dataset_spec(FORMAT_NAME)
    except UnknownDatasetError as exc:
        raise click.ClickException(_missing_plugin_message()) from exc
    if spec.write_sample is None:
        raise click.ClickException(
            f"the installed {FORMAT_NAME!r} plugin provides no writer.\n{_missing_plugin_message()}"
        )
    directory = directory.expanduser()
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise click.ClickException(
            f"{directory} is not empty; choose an empty or new folder, or pass --force to write into it "
            f"(files of the same names are replaced)"
        )
    before = _snapshot(directory)
    try:
        sample = spec.write_sample(
            directory,
            seed=seed,
            num_colors=num_colors,
            num_stimuli=num_stimuli,
            num_sessions=num_sessions,
            clip_length=clip_length,
        )
    except (TypeError, ValueError, OSError) as exc:
        raise click.ClickException(f"could not write the example into {directory}: {exc}") from exc
    root = Path(sample.data_dir)
    after = _snapshot(root)
    for path in sorted(p for p, stamp in after.items() if before.get(p) != stamp):
        click.echo(f"wrote {path.relative_to(root)} ({path.stat().st_size / 1e6:.1f} MB)")
    options = ", ".join(f"{key}={value!r}" for key, value in sample.options.items())
    click.echo(
        f"\nLoad it with:\n"
        f"    import openretina_core as orc\n"
        f'    loaders = orc.get_dataloaders("{FORMAT_NAME}", data_dir="{root}", {options})'
    )


def register_commands(group: click.Group) -> None:
    """Add ``create-data`` to the main CLI."""
    group.add_command(create_data_command)
