"""docs/writing-a-plugin.md documents every field of the dataset card, with the type and the default the code
has: a field added to ``DatasetInfo`` or ``RemoteFile`` fails here until it is documented."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from openretina_core.registry.specs import DatasetInfo, RemoteFile

DOC = Path(__file__).resolve().parents[1] / "docs" / "writing-a-plugin.md"
REQUIRED = {"yes", "contract", "no", "registry"}
REGISTRY_FILLED = {"distribution", "version"}  # set at registration from the entry point's distribution


def table_rows(text: str, heading: str) -> dict[str, list[str]]:
    """``{field: [type, required, meaning, example]}`` of the table under ``### `heading```."""
    section = text.split(f"### `{heading}`", 1)[1].split("\n#", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        # split on the column bars, not on the escaped ones inside a type
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        name = cells[0].strip("`")
        assert name not in rows, f"{heading}.{name} is documented twice"
        rows[name] = cells[1:]
    return rows


@pytest.mark.parametrize("cls", [DatasetInfo, RemoteFile], ids=lambda c: c.__name__)
def test_every_card_field_is_documented_with_its_type_and_whether_it_is_required(cls: type) -> None:
    rows = table_rows(DOC.read_text(encoding="utf-8"), cls.__name__)
    fields = attrs.fields(cls)
    assert list(rows) == [f.name for f in fields], "one row per field, in the order of the class"
    for field in fields:
        kind, required, meaning, example = rows[field.name]
        assert kind == f"`{field.type}`", (
            f"{cls.__name__}.{field.name}: documented as {kind}, is {field.type}"
        )
        assert required in REQUIRED, f"{cls.__name__}.{field.name}: required? is one of {sorted(REQUIRED)}"
        assert (required == "yes") == (field.default is attrs.NOTHING), f"{cls.__name__}.{field.name}"
        assert (required == "registry") == (cls is DatasetInfo and field.name in REGISTRY_FILLED)
        assert meaning and example, f"{cls.__name__}.{field.name} needs a meaning and an example"


def test_contract_fields_are_those_the_contract_checks() -> None:
    """The fields marked "contract" are exactly those ``test_info_is_complete`` requires to be set."""
    import inspect

    from openretina_core.testing.contract import DatasetPluginContract

    source = inspect.getsource(DatasetPluginContract.test_info_is_complete)
    checked = {f.name for f in attrs.fields(DatasetInfo) if re.search(rf"\b{f.name}\b", source)} - {"id"}
    rows = table_rows(DOC.read_text(encoding="utf-8"), "DatasetInfo")
    marked = {name for name, cells in rows.items() if cells[1] == "contract"}
    required = {name for name, cells in rows.items() if cells[1] == "yes"}
    assert marked == checked - required, "mark a field 'contract' exactly when the shared contract checks it"


def test_the_docs_start_from_new_plugin_not_a_copy() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "openretina-data new-plugin" in text and "Copy `plugins/_template" not in text
