"""``cvm.models`` stays pure: its modules import numpy, scipy, pandas, scikit-learn, LightGBM, optbinning, the
standard library, ``cvm.models`` itself and the plain-data contract of what a decision learns
(``cvm.contracts.learned``, which imports nothing of CVM), nothing else (no query engine, no plotting, no other
stage)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import cvm.models

ALLOWED = {"numpy", "scipy", "pandas", "sklearn", "lightgbm", "optbinning", "__future__"}
ROOT = Path(cvm.models.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module named by an import statement of ``path``, top level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _allowed(module: str) -> bool:
    top = module.split(".")[0]
    return (
        top in ALLOWED
        or top in sys.stdlib_module_names
        or module in ("cvm.models", "cvm.contracts.learned")
        or module.startswith("cvm.models.")
    )


def test_every_module_of_cvm_models_imports_only_the_allowed_packages() -> None:
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) > 15  # the walk found the package
    wrong = {str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if not _allowed(m)) for p in files}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import duckdb\nfrom cvm.features import rfm\n\ndef f():\n    import plotly.io\n")
    assert sorted(m for m in _imports(module) if not _allowed(m)) == ["cvm.features", "duckdb", "plotly.io"]
