"""The CLI, through click's runner: list, info, plugins, demo."""

from __future__ import annotations

import json

from click.testing import CliRunner

from openretina_core.cli.commands import main


def test_list_shows_installed_and_missing(toy_plugins) -> None:
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0, result.output
    assert "toy_2025" in result.output and "toy-plugin" in result.output
    assert 'pip install "openretina-core[hoefling-2024]"' in result.output
    data = json.loads(CliRunner().invoke(main, ["list", "--json"]).output)
    assert data["installed"][0]["id"] == "toy_2025" and "karamanlis_2024" in data["not_installed"]


def test_info_prints_card_and_bibtex(toy_plugins) -> None:
    result = CliRunner().invoke(main, ["info", "toy_2025"])
    assert result.exit_code == 0, result.output
    for text in (
        "Toy retina dataset",
        "10.0000/toy",
        "CC0-1.0",
        "@misc{toy_2025",
        "toy.zip",
        "spike counts per frame",
    ):
        assert text in result.output
    card = json.loads(CliRunner().invoke(main, ["info", "toy_2025", "--json"]).output)
    assert card["files"][0]["relative_path"] == "toy.zip" and card["distribution"] == "toy-plugin"
    missing = CliRunner().invoke(main, ["info", "hoefling_2024"])
    assert missing.exit_code != 0 and 'pip install "openretina-core[hoefling-2024]"' in missing.output


def test_plugins_lists_load_errors(fresh_plugins) -> None:
    from openretina_core.registry.manager import LoadedPlugin

    fresh_plugins.loaded.append(
        LoadedPlugin(
            name="bad", distribution="openretina-bad", version="0.1", module="bad", error=ImportError("nope")
        )
    )
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1, "a broken installation is a failing exit status"
    assert "bad" in result.output and "FAILED to load: ImportError: nope" in result.output
    records = json.loads(CliRunner().invoke(main, ["plugins", "--json"]).output)
    assert records[0]["error"] == "ImportError: nope"


def test_demo_writes_table_and_png(toy_plugins, tmp_path) -> None:
    result = CliRunner().invoke(main, ["demo", "--output", str(tmp_path), "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    assert "toy_2025" in result.output and "samples/s" in result.output
    for kind in ("stimulus", "responses", "sta", "sta_lags"):  # the preview's figures
        png = tmp_path / f"toy_2025_{kind}.png"
        assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"figure: {png}" in result.output
    assert "toy_2025: STA peak-lag mode" in result.output and "no offset flagged" in result.output
    row = next(line for line in result.output.splitlines() if line.startswith("toy_2025 "))
    assert float(row.split()[-1]) > 0.5, "the STA recovered from the demo's batches matches the true filter"


def test_demo_without_datasets_explains_what_to_install(fresh_plugins, tmp_path) -> None:
    result = CliRunner().invoke(main, ["demo", "--output", str(tmp_path)])
    assert result.exit_code != 0 and "openretina-core[all]" in result.output


def test_listing_and_cache_commands_do_not_import_torch() -> None:
    """The package and the registry stay light: ``list``, ``info``, ``plugins`` and ``cache info`` start in a
    fraction of a second because nothing on their path imports torch or h5py."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import openretina_core\n"
        "from openretina_core.cli.commands import main\n"
        "for args in (['list'], ['info', 'maheswaranathan_2023'], ['plugins'], ['cache', 'info']):\n"
        "    result = CliRunner().invoke(main, args)\n"
        "    assert result.exit_code == 0, (args, result.output)\n"
        "heavy = sorted(m for m in ('torch', 'h5py', 'numpy') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "torch" not in done.stdout and "h5py" not in done.stdout, done.stdout
