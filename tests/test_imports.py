"""The import graph: no circle anywhere, and arrows only from intake/ down to the others."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("intake", "channels", "parsers", "store")
# What each top-level package may import of ours (DESIGN.md, "Layout").
# DESIGN.md: parsers and store import neither each other nor intake; channels import nothing
# of ours. Parsers may read channels/ (the types and protocol facts a channel hands over).
ALLOWED = {"intake": set(OURS), "channels": {"channels"}, "parsers": {"parsers", "channels"},
           "store": {"store"}}


def module_names() -> dict[str, Path]:
    names = {}
    for top in OURS:
        for path in (ROOT / top).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # Alembic loads these by path, not by import
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names[".".join(parts)] = path
    return names


def imports_of(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """Every module of ours this one imports, anywhere in it (also inside functions and
    under TYPE_CHECKING: a circle there is still a circle in the design)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t.split(".")[0] in OURS and t != name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = module_names()
    return {name: imports_of(path, name, known) for name, path in known.items()}


def test_no_module_imports_one_that_does_not_exist(graph):
    known = set(graph)
    missing = {(a, b) for a, targets in graph.items() for b in targets if b not in known}
    assert not missing


def test_arrows_point_down_from_intake(graph):
    wrong = sorted((a, b) for a, targets in graph.items() for b in targets
                   if not allowed(a, b))
    assert not wrong, f"imports against the layout: {wrong}"


def allowed(importer: str, imported: str) -> bool:
    rules = ALLOWED[importer.split(".")[0]]
    return imported.split(".")[0] in rules or imported in rules


def test_the_layout_rule_refuses_an_upward_arrow():
    assert not allowed("parsers.email", "intake.config")
    assert not allowed("channels.smtp", "store.models")
    assert not allowed("parsers.email", "store.models")
    assert allowed("parsers.telegram", "channels.chat")


def test_the_import_graph_has_no_circle(graph):
    circles = find_circles(graph)
    assert not circles, "import circles: " + "; ".join(" → ".join(c) for c in circles)


def find_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that reach one another through imports (a few hundred modules:
    a walk from each is quick enough and plain to read)."""
    reach = {node: reachable(graph, node) for node in graph}
    groups = {frozenset(n for n in reach[node] if node in reach[n]) for node in graph
              if node in reach[node]}
    return sorted(sorted(group) for group in groups)


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def test_the_circle_finder_sees_a_circle():
    assert find_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_circles({"a": {"b"}, "b": set()}) == []
