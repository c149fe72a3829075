"""What ``openretina-data list`` shows: the installed datasets and stimulus generators, and the published
datasets whose plugin is missing with the line that installs each. Reads the registry only (no torch)."""

from __future__ import annotations

from typing import Any

from openretina_core.cli.table import render_table
from openretina_core.registry import tables as registry
from openretina_core.registry.extras import install_command


def listing() -> dict[str, Any]:
    """``{"installed": [...], "not_installed": [names], "install": {name: command}, "stimuli": [...]}``."""
    installed = []
    for name in registry.list_datasets():
        info = registry.get_dataset_spec(name).info
        installed.append(
            {
                "id": name,
                "title": info.title,
                "species": list(info.species),
                "modality": info.recording_modality,
                "distribution": info.distribution,
                "version": info.version,
            }
        )
    missing = sorted(set(registry.KNOWN_DATASETS) - {row["id"] for row in installed})
    stimuli = []
    for name in registry.list_stimuli():
        spec = registry.get_stimulus_spec(name)
        stimuli.append(
            {
                "name": name,
                "description": spec.description,
                "units": dict(spec.units),
                "distribution": spec.distribution,
                "version": spec.version,
            }
        )
    return {
        "installed": installed,
        "not_installed": missing,
        "install": {name: install_command(registry.KNOWN_DATASETS[name], name) for name in missing},
        "stimuli": stimuli,
    }


def render_listing(found: dict[str, Any], width: int | None = None) -> str:
    """The listing as tables that fit ``width`` (the terminal's by default); install commands are never
    wrapped."""
    parts = []
    if found["installed"]:
        rows = [
            [row["id"], ", ".join(row["species"]), row["modality"], _plugin(row)]
            for row in found["installed"]
        ]
        parts.append(render_table(["dataset", "species", "recording", "plugin"], rows, width))
    else:
        parts.append("No datasets installed.")
    if found["not_installed"]:  # commands stay on one line each, to copy and paste
        pad = max(len(name) for name in found["not_installed"])
        lines = [f"  {name:<{pad}}  {found['install'][name]}" for name in found["not_installed"]]
        parts.append("\n".join(["Published, not installed (install with):", *lines]))
    if found["stimuli"]:
        rows = [[row["name"], row["description"] or "-", _plugin(row)] for row in found["stimuli"]]
        parts.append(render_table(["stimulus", "description", "plugin"], rows, width))
    else:
        command = install_command(registry.KNOWN_STIMULUS_DISTRIBUTIONS["stimuli"], "stimuli")
        parts.append(f"No stimulus generators installed ({command}).")
    return "\n\n".join(parts)


def _plugin(row: dict[str, Any]) -> str:
    return f"{row['distribution'] or '?'} {row['version'] or ''}".strip()
