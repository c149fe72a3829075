"""Rewrite plugins/_template as `openretina-data new-plugin my_lab_2025` writes it.

plugins/_template is the shipped template (openretina_core/cli/plugin_template) rendered for one name, kept so
the repository shows a plugin as generated and CI lints, type-checks and installs it; tests/test_new_plugin.py
fails when the two differ. Run after editing the template: python scripts/refresh-template.py
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from openretina_core.cli.new_plugin import plugin_names, write_plugin

REPO = Path(__file__).resolve().parents[1]
COPY = REPO / "plugins" / "_template"
NAME = "my_lab_2025"
KEEP = ("build", ".egg-info", "__pycache__")  # what an install leaves there, not part of the template


def main() -> None:
    names = plugin_names(NAME)
    with tempfile.TemporaryDirectory() as scratch:
        fresh = write_plugin(names, Path(scratch))
        for old in sorted(COPY.rglob("*"), reverse=True):
            relative = old.relative_to(COPY)
            if any(part.endswith(KEEP) for part in relative.parts):
                continue
            if old.is_file() and not (fresh / relative).is_file():
                old.unlink()
                print(f"removed {old.relative_to(REPO)}")
            elif old.is_dir() and not any(old.iterdir()):
                old.rmdir()
        for new in sorted(fresh.rglob("*")):
            if new.is_file():
                target = COPY / new.relative_to(fresh)
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.is_file() or target.read_bytes() != new.read_bytes():
                    shutil.copyfile(new, target)
                    print(f"wrote {target.relative_to(REPO)}")


if __name__ == "__main__":
    main()
