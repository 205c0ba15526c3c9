"""The adapters (cvm.api, cvm.cli, cvm.web) reach the stores and the model registry only through the engine's services.

An AST walk over every adapter module: no import of ``cvm.store`` or ``cvm.scoring.registry`` (at any depth,
at the top or inside a function) and no ``.offline`` / ``.online`` attribute, with no exception: errors reach
the adapters through the one error root, :mod:`cvm.errors`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cvm

SRC = Path(cvm.__file__).parent
ADAPTERS = sorted(p.relative_to(SRC).as_posix() for pkg in ("api", "cli", "web") for p in (SRC / pkg).rglob("*.py"))
FORBIDDEN_MODULES = ("cvm.store", "cvm.scoring.registry")
FORBIDDEN_ATTRIBUTES = {"offline", "online"}
ALLOWED: set[tuple[str, str]] = set()  # see the module docstring


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The dotted names an import statement brings in (``from a import b`` brings in ``a.b``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    return [f"{node.module}.{a.name}" for a in node.names] if node.module else []


def reaches(source: str, module: str) -> list[str]:
    """Each forbidden import or attribute in ``source`` (the adapter file ``module``), with its line."""
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            found.add((node.lineno, f".{node.attr}"))
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        for name in _imported(node):
            bad = any(name == m or name.startswith(f"{m}.") for m in FORBIDDEN_MODULES)
            if bad and (module, name) not in ALLOWED:
                found.add((node.lineno, f"import {name}"))
    return [f"line {line}: {what}" for line, what in sorted(found)]


def test_every_adapter_package_is_checked() -> None:
    assert len(ADAPTERS) > 30
    assert {"api/app.py", "api/risk.py", "cli/main.py", "cli/models.py", "web/app.py", "web/reports.py"} <= set(
        ADAPTERS
    )


@pytest.mark.parametrize("module", ADAPTERS)
def test_adapter_calls_only_the_services(module: str) -> None:
    assert reaches((SRC / module).read_text(encoding="utf-8"), module) == []


def test_the_check_finds_each_way_past_the_engine() -> None:
    source = (
        "from cvm.store import OfflineStore\n"
        "import cvm.scoring.registry\n"
        "from cvm.scoring import registry\n"
        "def f(engine):\n"
        "    from cvm.store.tables import audit_log\n"
        "    return engine.offline.scan('scores'), engine.online\n"
    )
    assert reaches(source, "api/probe.py") == [
        "line 1: import cvm.store.OfflineStore",
        "line 2: import cvm.scoring.registry",
        "line 3: import cvm.scoring.registry",
        "line 5: import cvm.store.tables.audit_log",
        "line 6: .offline",
        "line 6: .online",
    ]
    assert reaches("from cvm.store import StoreError\n", "cli/errors.py") == ["line 1: import cvm.store.StoreError"]
