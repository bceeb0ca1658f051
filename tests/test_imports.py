"""The library's modules import one another one way: no cycle (lazy imports inside functions count too)."""

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "dann_demo"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The dann_demo modules `path` imports anywhere in it: at the top, inside functions, and under
    `if TYPE_CHECKING:` too (a cycle that only type checkers follow is still a cycle of the design)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
            # `from dann_demo import loop` imports the module loop. The top package itself is loaded first by
            # any import of one of its modules, so an edge to it says nothing of the design.
            if node.module != PACKAGE.name or not node.names:
                found.add(node.module)
    own = {module_name(path)} if path.is_relative_to(ROOT) else set()
    return {name for name in found if name in modules} - own


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def library_graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): imports_of(f, modules) for f in files}


def test_no_import_cycle_among_the_library_modules():
    graph = library_graph()
    assert len(graph) > 20 and "dann_demo.datasets.moons" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_imports_under_type_checking_count(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from dann_demo.jobs import Job\n")
    assert imports_of(module, {"dann_demo.jobs"}) == {"dann_demo.jobs"}


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_data_set_module_imports_the_registry_back():
    graph = library_graph()
    for name, imported in graph.items():
        if name.startswith("dann_demo.datasets."):
            assert "dann_demo.datasets" not in imported, name


def test_no_private_name_is_imported_across_modules():
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dann_demo"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"
