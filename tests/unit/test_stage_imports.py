"""No stage imports a sibling stage, except where the importing module's docstring says why.

Stages talk through tables and the typed contracts of :mod:`cvm.contracts`
(docs/architecture.md, "Dependency direction"). The stages are the packages under
``src/cvm`` other than the layers every stage may import (``contracts``, ``config``,
``store``, ``rules``, ``models``, ``i18n``), the adapters (``api``, ``cli``, ``web``) and the
composition layer (``engine.py`` and its per-domain ``services``). Every import of one
stage by another, at module level or inside a function, must be in :data:`ALLOWED`, and
the importing module's docstring must name the imported stage (``cvm.<stage>``) and say why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cvm

SRC = Path(cvm.__file__).parent
SHARED = {"contracts", "config", "store", "rules", "models", "i18n"}  # the bottom layers every stage may import
ADAPTERS = {"api", "cli", "web"}  # import engine and contracts (checked with the adapters, not here)
COMPOSERS = {"services"}  # the engine's per-domain services compose the stages, as engine.py does

# (importing stage, imported module or package) -> why it is right; each is also told in the module's docstring.
ALLOWED: dict[tuple[str, str], str] = {
    # the transactional outbox: an event's actions commit in the event's own transaction, through the one
    # writer of action_requests (rows per cvm.contracts.actions); plus its reading of stored UTC times
    ("events", "cvm.delivery.outbox"): "transactional outbox",
    # the batch writes exactly what the real-time path writes, in one transaction, with the same writers
    ("jobs", "cvm.delivery.outbox"): "transactional outbox",
    ("jobs", "cvm.events.profile"): "plan state lives in the versioned online profile",
    ("jobs", "cvm.experiments"): "pilot assignments are recorded by experiments.records",
    # the partitioned batch decides with the plans' own pure decide where each partition runs, then loads it
    ("jobs", "cvm.plans"): "the plan batch per partition: decide and load in the same worker",
    # erasure reaches every store; each store's rows are erased by their owner
    ("customers", "cvm.events.erase"): "erasure of the online store's event tables",
    ("customers", "cvm.experiments"): "erasure of pilot assignments",
    ("customers", "cvm.delivery"): "the online erasure runs in the outbox's write transaction",
    ("customers", "cvm.ingest.sniff"): "files are read back with the dialect the inbox reader detected",
    # deterministic assignment: one pure (standard library only) function for deciding and analysing a pilot
    ("plans", "cvm.experiments.assign"): "deterministic assignment",
    # the demo pilot is dated at the end of the data as the churn report dates it
    ("experiments", "cvm.reporting.churn"): "one definition of the end of the data",
    # the model registry is the one reader and writer of model files
    ("risk", "cvm.scoring.registry"): "the champion scorecard comes from the registry",
    # a model trains and is monitored on features built by the same definitions that score it
    ("scoring", "cvm.features"): "point-in-time features for training and monitoring",
    # `cvm clv fit` is one command's whole pipeline on a file, with no workspace and so no table between stages
    ("scoring", "cvm.reporting"): "the CLV diagnostic plots of `cvm clv fit`",
    ("scoring", "cvm.ingest"): "`cvm clv fit` reads a file with the reader and coercion of `cvm ingest`",
    # the 360 counts the events accepted since the last run, and reads score reasons as sentences
    ("customers", "cvm.events.hubrows"): "events in the 360 before cvm run exports them",
    ("customers", "cvm.scoring.reasons"): "score reasons as sentences with the customer's values",
    ("customers", "cvm.reporting.filters"): "the customers list filters as the reports do",
    # the saved report tables hold customer ids: erasure deletes them through their owner
    ("customers", "cvm.reporting"): "erasure of the saved report tables",
    # events reach the hub through the ingestion path of files: validation, quarantine, one atomic batch
    ("events", "cvm.ingest.batch"): "one ingestion path for files and events",
    # the Plans & actions summary counts the outbox's statuses with the outbox's own reader
    ("reporting", "cvm.delivery.outbox"): "one owner of action statuses",
    # acceptance decisions give their reasons as sentences, as every score does
    ("risk", "cvm.scoring.reasons"): "reasons as sentences",
    # the demo's replay of past months logs the real pure decide over its simulated ground truth (issue 18)
    ("demo", "cvm.plans"): "the demo replay runs the real decide",
    # the uplift models are calibrated with the pilots' one definition of the Qini coefficient and uplift at k
    ("scoring", "cvm.experiments.uplift"): "one Qini definition",
}


def _stages() -> set[str]:
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    return packages - SHARED - ADAPTERS - COMPOSERS


def _imports(tree: ast.Module) -> list[tuple[str, int]]:
    """Every absolute ``cvm.`` module imported anywhere in ``tree`` (functions included), with its line."""
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, node.lineno))
            out += [(f"{node.module}.{a.name}", node.lineno) for a in node.names if node.module == "cvm"]
    return [(m, line) for m, line in out if m.startswith("cvm.")]


def _allowed(stage: str, module: str) -> tuple[str, str] | None:
    for key in ALLOWED:
        if key[0] == stage and (module == key[1] or module.startswith(key[1] + ".")):
            return key
    return None


def _sibling_imports() -> list[tuple[str, str, str, int]]:
    """``(stage, importing file, imported module, line)`` of every import of a sibling stage."""
    stages, found = _stages(), []
    for stage in sorted(stages):
        for path in sorted((SRC / stage).rglob("*.py")):
            for module, line in _imports(ast.parse(path.read_text(encoding="utf-8"))):
                other = module.split(".")[1]
                if other in stages and other != stage:
                    found.append((stage, str(path.relative_to(SRC)), module, line))
    return found


def test_the_stages_are_found() -> None:
    assert {"plans", "delivery", "events", "scoring", "features", "jobs", "experiments"} <= _stages()


def test_no_stage_imports_a_sibling_outside_the_allow_list() -> None:
    refused = [f"{file}:{line} imports {module}" for stage, file, module, line in _sibling_imports()
               if _allowed(stage, module) is None]  # fmt: skip
    assert not refused, "stages talk through tables and cvm.contracts:\n" + "\n".join(refused)


def test_each_allowed_import_is_explained_in_the_importing_module() -> None:
    silent = []
    for _stage, file, module, line in _sibling_imports():
        doc = ast.get_docstring(ast.parse((SRC / file).read_text(encoding="utf-8"))) or ""
        other = "cvm." + module.split(".")[1]
        if other not in doc:
            silent.append(f"{file}:{line} imports {module}: its docstring should name {other} and say why")
    assert not silent, "\n".join(silent)


def test_every_allowed_exception_is_still_used() -> None:
    used = {_allowed(stage, module) for stage, _, module, _ in _sibling_imports()}
    assert set(ALLOWED) - used == set()


def test_contracts_import_nothing_internal() -> None:
    """Contracts import only themselves and :mod:`cvm.errors` (the error root, which imports nothing of cvm)."""
    internal = [
        f"{path.name}: {module}"
        for path in (SRC / "contracts").rglob("*.py")
        for module, _ in _imports(ast.parse(path.read_text(encoding="utf-8")))
        if not module.startswith("cvm.contracts") and module != "cvm.errors"
    ]
    assert not internal
