"""The core's layout holds: wings import only downwards, no module imports itself back in a circle, no module
outgrows its job, and plugins reach the core only through its public modules (``docs/architecture.md``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "openretina_core"
PACKAGE = "openretina_core"

# A wing may import its own modules and those of lower ranks only (faces -> store -> data/files -> registry).
WING_RANK = {"registry": 0, "data": 1, "files": 1, "store": 2, "cli": 3, "testing": 3, "lightning": 3}
MAX_MODULE_LINES = 400
PLUGIN_FACING = {PACKAGE, *(f"{PACKAGE}.{wing}" for wing in WING_RANK)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def core_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(CORE.rglob("*.py"))}


def type_checking_imports(tree: ast.AST) -> set[ast.AST]:
    """Import statements inside ``if TYPE_CHECKING:`` blocks (they never run)."""
    found: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found.update(
                n for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Import | ast.ImportFrom)
            )
    return found


def imported_modules(path: Path, name: str, *, type_checking: bool = True) -> Iterator[tuple[int, str]]:
    """Every module an ``import`` statement in ``path`` names (function-local ones too, and those under
    ``TYPE_CHECKING`` unless ``type_checking=False``), resolved to absolute names; ``from package import name``
    yields ``package.name`` when that is a module."""
    is_package = path.name == "__init__.py"
    package_parts = name.split(".") if is_package else name.split(".")[:-1]
    modules = core_modules()
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = set() if type_checking else type_checking_imports(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package_parts[: len(package_parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                yield node.lineno, candidate if candidate in modules else target


def wing_of(module: str) -> str | None:
    """The wing a core module belongs to; None for the package root (the public face above every wing)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def core_import_edges(*, type_checking: bool = True) -> list[tuple[str, int, str]]:
    modules = core_modules()
    edges = []
    for name, path in modules.items():
        for line, target in imported_modules(path, name, type_checking=type_checking):
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                edges.append((name, line, target))
    return edges


def test_every_core_module_belongs_to_a_known_wing() -> None:
    strays = [name for name in core_modules() if name != PACKAGE and wing_of(name) not in WING_RANK]
    assert not strays, f"modules outside the wings {sorted(WING_RANK)}: {strays}"


def test_wings_import_only_downwards() -> None:
    wrong = []
    for source, line, target in core_import_edges():
        source_wing, target_wing = wing_of(source), wing_of(target)
        if source_wing is None or source_wing == target_wing:
            continue
        if target_wing is None or WING_RANK[target_wing] >= WING_RANK[source_wing]:
            wrong.append(f"{source}:{line} imports {target}")
    assert not wrong, (
        "imports against the allowed direction (faces -> data/files -> registry):\n" + "\n".join(wrong)
    )


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the directed graph, as the list of its nodes, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_find_cycle_sees_circles_and_only_circles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_imports_itself_back_in_a_circle() -> None:
    modules = core_modules()
    graph: dict[str, set[str]] = {}
    for source, _, target in core_import_edges(
        type_checking=False
    ):  # the wings' type-only re-exports never run
        if target in modules and source != target:
            graph.setdefault(source, set()).add(target)
    assert find_cycle(graph) is None, f"import circle: {' -> '.join(find_cycle(graph) or [])}"


@pytest.mark.parametrize("name", sorted(core_modules()))
def test_core_modules_stay_small(name: str) -> None:
    lines = len(core_modules()[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines (> {MAX_MODULE_LINES}): split it by job"


def test_every_wing_says_what_it_owns_and_may_import() -> None:
    for wing in WING_RANK:
        doc = ast.get_docstring(ast.parse((CORE / wing / "__init__.py").read_text())) or ""
        assert "Imports:" in doc, f"openretina_core/{wing}/__init__.py must say what the wing may import"
        assert "Owns" in doc, f"openretina_core/{wing}/__init__.py must say what the wing owns"


def plugin_sources() -> list[Path]:
    return [
        path
        for path in sorted((REPO / "plugins").rglob("*.py"))
        if not any(
            part.startswith(".") or part.endswith(".egg-info") or part == "build" for part in path.parts
        )
    ]


def test_plugins_import_only_public_modules_of_the_core() -> None:
    wrong = []
    for path in plugin_sources():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            for module in names:
                if module.startswith(PACKAGE) and module not in PLUGIN_FACING:
                    wrong.append(f"{path.relative_to(REPO)}:{node.lineno} imports {module}")
    assert plugin_sources(), "no plugin sources found"
    assert not wrong, f"plugins must import only {sorted(PLUGIN_FACING)}:\n" + "\n".join(wrong)


def test_public_api_and_wing_exports_resolve() -> None:
    import importlib

    import openretina_core as orc

    for name in orc.__all__:
        assert getattr(orc, name) is not None, f"openretina_core.{name}"
    for wing in ("registry", "data", "files", "store", "testing"):
        module = importlib.import_module(f"{PACKAGE}.{wing}")
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{PACKAGE}.{wing}.{name}"


@pytest.mark.slow
def test_testing_kit_and_simulator_import_without_pytest() -> None:
    """Plugins' ``write_sample`` and the demo run where pytest is not installed."""
    code = (
        "import sys\n"
        "sys.modules['pytest'] = None  # any import of pytest now fails\n"
        "import openretina_core.testing as t\n"
        "from openretina_core.testing import LocalFileServer, zip_folder\n"
        "from openretina_core.data import make_lnp_model, simulate_responses\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr
