"""The modules of ``cvm.scoring`` import each other without a circle (an AST walk of every import,
top level or inside functions), so each room of the scoring stage can be read and tested on its own."""

from __future__ import annotations

import ast
from pathlib import Path

import cvm.scoring

PACKAGE = "cvm.scoring"
ROOT = Path(cvm.scoring.__file__).parent


def _module_of(path: Path, root: Path, package: str) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join([package, *parts[:-1]] if parts[-1] == "__init__" else [package, *parts])


def _edges(path: Path, root: Path, package: str, modules: set[str]) -> set[str]:
    """The modules of ``package`` that ``path`` imports (``from package import sub`` names ``sub``)."""
    here = _module_of(path, root, package)
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join([*anchor, *([base] if base else [])])
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in out if m in modules and m != here}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Each module of the package, with the modules of the package that it imports."""
    files = sorted(root.rglob("*.py"))
    modules = {_module_of(p, root, package) for p in files}
    return {_module_of(p, root, package): _edges(p, root, package, modules) for p in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle of imports found by a depth-first walk, each as the path that closes it."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    return found


def test_cvm_scoring_has_no_import_cycle() -> None:
    graph = import_graph(ROOT, PACKAGE)
    assert len(graph) > 10  # the walk found the package
    assert f"{PACKAGE}.training_data" in graph[f"{PACKAGE}.monitor"]  # and sees its imports
    assert cycles(graph) == []


def test_the_rooms_import_downwards_only() -> None:
    graph = import_graph(ROOT, PACKAGE)
    lifecycle, monitor = f"{PACKAGE}.lifecycle", f"{PACKAGE}.monitor"
    assert lifecycle not in graph[monitor]
    assert monitor not in graph[f"{PACKAGE}.training_data"] | graph[f"{PACKAGE}.evaluation"]
    assert not any(lifecycle in graph[m] for m in graph)  # nothing in the stage depends on the training entry


def test_the_check_sees_a_circle(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import c\n")
    (pkg / "c.py").write_text("from . import a\n")
    (pkg / "d.py").write_text("import pkg.a\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.d"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
