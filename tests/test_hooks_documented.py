"""Meta-tests: every hook is documented under its exact signature and has a test named after it."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from openretina_core.registry import hookspecs

REPO = Path(__file__).resolve().parents[1]
HOOKS = sorted(
    name for name, fn in vars(hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, "openretina_spec")
)


def signature_text(name: str) -> str:
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{name}({params}) -> {sig.return_annotation}"


def test_hooks_found() -> None:
    assert set(HOOKS) == {
        "register_datasets",
        "register_stimuli",
        "choose_device",
        "move_batch",
        "keep_on_device",
    }


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented_with_its_signature(name: str) -> None:
    docs = (REPO / "docs" / "hooks.md").read_text()
    assert f"## `{signature_text(name)}`" in docs, f"docs/hooks.md lacks a heading for {signature_text(name)}"
    assert getattr(hookspecs, name).__doc__, f"hook {name} has no docstring"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_test(name: str) -> None:
    sources = "\n".join(p.read_text() for p in (REPO / "tests").glob("test_*.py"))
    assert f"def test_hook_{name}" in sources, f"no test named test_hook_{name}"
