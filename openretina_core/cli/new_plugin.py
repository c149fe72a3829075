"""CLI command ``new-plugin NAME``: write a lab's dataset plugin package from the template shipped in the wheel.

The template lives beside this module in ``plugin_template/`` as ``*.tmpl`` files (so that no linter, type
checker or test runner takes them for modules of the core) and is package data of ``openretina-core``: a lab
needs no clone of this repository. Tokens ``__DATASET_ID__``, ``__PACKAGE__``, ``__DISTRIBUTION__``,
``__LAB__`` and ``__YEAR__`` in file contents and paths are replaced by the names derived from NAME; the
package written installs, and passes the shared plugin contract, as it is. ``plugins/_template/`` in the
repository is the template rendered for ``my_lab_2025`` (a test keeps the two equal).
"""

from __future__ import annotations

import datetime
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import click
from attrs import define

from openretina_core.registry.errors import BadArgumentError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

TEMPLATE_PACKAGE = "openretina_core.cli"
TEMPLATE_FOLDER = "plugin_template"
TEMPLATE_SUFFIX = ".tmpl"
MAX_NAME_LENGTH = 40
# A lowercase identifier: words of lowercase letters and digits joined by single underscores, starting with a
# letter, so that the distribution (hyphens) and the package (underscores) spell back to the same name.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
TOKEN = re.compile(r"__([A-Z]+(?:_[A-Z]+)*)__")
YEAR_SUFFIX = re.compile(r"_((?:19|20|21)\d\d)$")


@define(frozen=True)
class PluginNames:
    """Every name a plugin for one dataset uses, derived from its registry name."""

    dataset_id: str
    package: str
    distribution: str
    lab: str
    year: int

    def tokens(self) -> dict[str, str]:
        """The template's tokens (without their underscores) and what they become."""
        return {
            "DATASET_ID": self.dataset_id,
            "PACKAGE": self.package,
            "DISTRIBUTION": self.distribution,
            "LAB": self.lab,
            "YEAR": str(self.year),
        }


def plugin_names(name: str) -> PluginNames:
    """Validate NAME as a registry name and derive the rest: ``smith_2025`` gives the distribution
    ``openretina-smith-2025``, the package ``openretina_smith_2025``, the lab ``Smith`` and the year 2025 (the
    current year when NAME ends in none)."""
    if not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise BadArgumentError(
            "NAME",
            f"a lowercase identifier of at most {MAX_NAME_LENGTH} characters: letters and digits in words "
            "joined by single underscores, starting with a letter (e.g. smith_2025)",
            name,
        )
    year_match = YEAR_SUFFIX.search(name)
    year = int(year_match.group(1)) if year_match else datetime.datetime.now(datetime.timezone.utc).year
    words = (name[: year_match.start()] if year_match else name).split("_")
    return PluginNames(
        dataset_id=name,
        package=f"openretina_{name}",
        distribution=f"openretina-{name.replace('_', '-')}",
        lab=" ".join(word.capitalize() for word in words),
        year=year,
    )


def check_name_is_free(name: str) -> str | None:
    """Refuse a name that an installed plugin or a published dataset already uses (two plugins registering one
    name is an error at every listing). Returns a warning when the installed plugins could not all be read."""
    from openretina_core.registry.errors import PluginError
    from openretina_core.registry.tables import KNOWN_DATASETS, DuplicateNameError, list_datasets

    if name in KNOWN_DATASETS:
        raise BadArgumentError(
            "NAME",
            f"a name no published dataset uses ({name!r} is provided by {KNOWN_DATASETS[name]}); choose "
            "another, e.g. with your lab's name and the year",
            name,
        )
    try:
        installed = list_datasets()
    except (PluginError, DuplicateNameError) as exc:  # a broken plugin must not stop a new one being written
        return f"could not read every installed plugin to check the name: {exc}"
    if name in installed:
        raise BadArgumentError(
            "NAME",
            f"a name no installed dataset uses ({name!r} is registered already: see `openretina-data info "
            f"{name}`); choose another",
            name,
        )
    return None


def template_root() -> Traversable:
    """The template folder inside the installed package (a wheel, or this source tree when editable)."""
    return resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_FOLDER)


def _walk(folder: Traversable, parts: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _walk(entry, (*parts, entry.name))
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            yield (*parts, entry.name), entry


def render(text: str, names: PluginNames, where: str = "template") -> str:
    """Replace every token; a token the template does not know is an error in the template, not output."""
    tokens = names.tokens()

    def replace(match: re.Match[str]) -> str:
        if match.group(1) not in tokens:
            raise ValueError(f"{where}: unknown template token {match.group(0)} (known: {sorted(tokens)})")
        return tokens[match.group(1)]

    return TOKEN.sub(replace, text)


def rendered_files(names: PluginNames) -> dict[Path, str]:
    """``{relative path: text}`` of the plugin package for ``names``, from the shipped template."""
    root = template_root()
    if not root.is_dir():
        raise FileNotFoundError(
            f"the plugin template {TEMPLATE_PACKAGE}/{TEMPLATE_FOLDER} is missing from this installation of "
            "openretina-core; reinstall it (pip install --force-reinstall openretina-core)"
        )
    files: dict[Path, str] = {}
    for parts, entry in _walk(root):
        where = "/".join(parts)
        relative = Path(*(render(part, names, where) for part in parts))
        files[relative.with_name(relative.name[: -len(TEMPLATE_SUFFIX)])] = render(
            entry.read_text(encoding="utf-8"), names, where
        )
    return files


def write_plugin(names: PluginNames, parent: Path) -> Path:
    """Write the package into ``parent/<distribution>``, which must not exist. The files are written into a
    temporary folder beside it that is renamed at the end, so a failure leaves no half-written package."""
    target = parent / names.distribution
    if target.exists() or target.is_symlink():
        raise FileExistsError(
            f"{target} exists already; nothing was written. Choose another --dir, or move that folder away"
        )
    files = rendered_files(names)
    parent.mkdir(parents=True, exist_ok=True)
    staging = parent / f".{names.distribution}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()  # with the user's umask, as any folder they make (mkdtemp's would stay private)
    try:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if target.exists():  # created meanwhile: refuse rather than merge
            raise FileExistsError(
                f"{target} appeared while the plugin was being written; nothing was written"
            )
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def next_steps(names: PluginNames, target: Path) -> str:
    """What to do with the package just written, printed by the command."""
    return (
        f"Next steps:\n"
        f"    cd {target}\n"
        f'    pip install -e ".[test]"   # the package, editable, with pytest\n'
        f"    pytest                     # the shared contract, on the package's synthetic sample\n"
        f"    openretina-data info {names.dataset_id}   # the dataset card as users will see it\n"
        f"Then make it yours: every value marked EDIT in {names.package}/constants.py (the dataset card and\n"
        f"the file layout); the readers and write_sample in {names.package}/dataset.py (the same layout);\n"
        f"README.md. The card's fields are explained in openretina-core's docs/writing-a-plugin.md."
    )


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write the package folder openretina-<name> into (default: the current folder).",
)
def new_plugin_command(name: str, directory: Path | None) -> None:
    """Write a dataset plugin package for NAME, the dataset's registry name (e.g. smith_2025): a pyproject
    with the entry point, the dataset card to fill, readers of a simple layout, a synthetic-sample writer and
    the shared contract tests. It installs and passes its tests as written."""
    try:
        names = plugin_names(name)
        warning = check_name_is_free(name)
    except BadArgumentError as exc:
        raise click.BadParameter(f"expected {exc.expected}; received {name!r}", param_hint="NAME") from exc
    if warning:
        click.echo(f"warning: {warning}", err=True)
    parent = (directory or Path.cwd()).expanduser()
    try:
        target = write_plugin(names, parent)
    except (FileExistsError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"could not write the plugin into {parent}: {exc}") from exc
    click.echo(f"wrote {target}/ (distribution {names.distribution}, package {names.package}):")
    for path in sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file()):
        click.echo(f"    {path}")
    click.echo(f"\n{next_steps(names, target)}")


def register_commands(group: click.Group) -> None:
    """Add ``new-plugin`` to the main CLI."""
    group.add_command(new_plugin_command)
