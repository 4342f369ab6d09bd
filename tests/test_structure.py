"""The package's import structure, read with `ast` (nothing is imported or run).

- no import cycle between bnnstat modules;
- the inspector's core and its reader import neither TensorFlow/Keras nor the training stack;
- the reader and the Keras adapter do not import each other;
- library modules do not import the CLI.

Imports under ``if TYPE_CHECKING:`` are left out (they never run); imports inside functions
count, since they run when the function does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "bnnstat"
HEAVY = ("tensorflow", "keras", "tf_keras", "larq", "matplotlib")
# Modules the inspector's core may import from bnnstat outside bnnstat.inspect.
CORE_ALLOWED = {"bnnstat", "bnnstat._version", "bnnstat.errors", "bnnstat.utils"}
ADAPTER = "bnnstat.inspect.keras_adapter"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports at run time (``from a import b`` gives ``a`` and, when it
    names a submodule, ``a.b``)."""
    module = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node, path.name == "__init__.py")
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def package_graph() -> dict[str, set[str]]:
    """bnnstat module -> the bnnstat modules it imports (only names that are modules)."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        graph[name] = {m for m in imports_of(path) if m in paths and m != name}
    return graph


GRAPH = package_graph()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path a -> ... -> a), or None. Importing a package's submodule
    runs the package's `__init__` first, which is not an edge of the cycle."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if node.startswith(target + "."):
                continue  # a module importing its own package (the package is already loading)
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def _allowed(name: str) -> bool:
    """An allowed module, or a name imported from one (`bnnstat.errors.BnnstatError`)."""
    return name in CORE_ALLOWED or any(
        name.startswith(f"{module}.") for module in CORE_ALLOWED - {"bnnstat"}
    )


def inspector_core() -> list[str]:
    return sorted(m for m in GRAPH if m.startswith("bnnstat.inspect") and m != ADAPTER)


def test_the_graph_is_read():
    assert "bnnstat.inspect.reader.build" in GRAPH["bnnstat.inspect.reader"]
    assert "bnnstat.inspect.catalog" in GRAPH["bnnstat.inspect.profile"]
    assert len(inspector_core()) >= 20


def test_no_import_cycle():
    assert _cycle(GRAPH) is None, " -> ".join(_cycle(GRAPH) or [])


def test_cycle_detection_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", inspector_core())
def test_inspector_core_imports_no_keras_and_no_training_stack(module):
    path = next(p for p in PACKAGE.rglob("*.py") if module_name(p) == module)
    imported = imports_of(path)
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert heavy == [], f"{module} imports {heavy}"
    outside = sorted(
        m
        for m in imported
        if m.startswith("bnnstat") and not m.startswith("bnnstat.inspect") and not _allowed(m)
    )
    assert outside == [], f"{module} imports {outside}"
    assert ADAPTER not in imported, f"{module} imports the Keras adapter"


def test_reader_and_adapter_do_not_import_each_other():
    reader = [m for m in GRAPH if m.startswith("bnnstat.inspect.reader")]
    assert reader and all(ADAPTER not in GRAPH[m] for m in reader)
    assert not any(m.startswith("bnnstat.inspect.reader") for m in GRAPH[ADAPTER])


def test_library_modules_do_not_import_the_cli():
    library = [m for m in GRAPH if not m.startswith("bnnstat.cli") and m != "bnnstat.__main__"]
    offenders = sorted(m for m in library if any(t.startswith("bnnstat.cli") for t in GRAPH[m]))
    assert offenders == []


def test_training_stack_does_not_import_the_inspector_core():
    """The training stack may hand a live model to the adapter, never depend on file reading."""
    training = ("bnnstat.layers", "bnnstat.quantizers", "bnnstat.optimizers", "bnnstat.math")
    for module in training:
        assert not any(t.startswith("bnnstat.inspect.reader") for t in GRAPH.get(module, ()))
