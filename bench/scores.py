"""Benchmark: life-cycle scoring of a million customers (features plus every model), training timed apart.

Uses the workspace at /tmp/bigws when it exists (ingested from ``generate(1_000_000, 1, ...)``),
otherwise generates and ingests one there. Prints one table; the target is under 60 s on 2 cores
for features plus scoring (the write to the ``scores`` table is timed separately).

    python bench/scores.py [--workspace /tmp/bigws] [--retrain]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cvm.engine import Engine

TABLES = ("customers", "subscriptions", "transactions", "payments", "contacts", "surveys", "ratings")


def _workspace(path: Path) -> Engine:
    if (path / "cvm.yaml").exists():
        return Engine.open(path)
    from cvm.demo import generate

    generate(1_000_000, 1, path / "demo-data")
    engine = Engine.init(path)
    for table in TABLES:
        engine.ingest(table, sorted((path / "demo-data").glob(f"{table}.*")))
    return engine


def _timed(label: str, rows: list[list[Any]], fn: Callable[[], Any]) -> Any:
    began = time.perf_counter()
    out = fn()
    rows.append([label, time.perf_counter() - began])
    print(f"{label}: {rows[-1][1]:.1f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/bigws"))
    parser.add_argument("--retrain", action="store_true", help="Train even if champions exist.")
    args = parser.parse_args()

    from cvm.features import build_features
    from cvm.scoring.assembly import _boosted, default_values, propensity_values
    from cvm.scoring.lifecycle import train
    from cvm.scoring.registry import ModelRegistry
    from cvm.scoring.training_data import data_end

    engine = _workspace(args.workspace)
    store, s = engine.offline, engine.settings
    rows: list[list[Any]] = []
    registry = ModelRegistry(engine.workspace)
    if args.retrain or len(registry.champions()) < 3:
        _timed("training (3 models, stacked snapshots)", rows, lambda: train(store, engine.workspace, s))
    champions = {name: registry.versions(name)[-1] for name in registry.names()}  # the newest version of each
    as_of = data_end(store)
    products = sorted({p for c in champions.values() for p in c.meta.get("products", [])})
    x = _timed("features", rows, lambda: build_features(store, as_of, products=products).to_pandas())
    cache: dict[str, Any] = {}
    churn, default, propensity = (champions[n].load() for n in ("churn", "default", "propensity"))
    _timed("churn (probability + reasons)", rows, lambda: _boosted(churn, x, cache))
    _timed("default (scorecard points + reasons)", rows, lambda: default_values(default, x))
    targets = _timed(
        "propensity (every product + reasons)",
        rows,
        lambda: propensity_values(propensity, champions["propensity"].meta.get("products", []), x, cache),
    )
    n_rows = len(x) * (3 + len(targets))  # churn, default, default_points and one per propensity target
    total = sum(r[1] for r in rows if not r[0].startswith("training"))
    rows.append(["features + scoring (target < 60 s)", total])
    print()
    print(f"{len(x):,} customers, {n_rows:,} score rows; " + ", ".join(v.tag for v in champions.values()))
    print(f"{'step':<42}{'seconds':>10}")
    for label, seconds in rows:
        print(f"{label:<42}{seconds:>10.1f}")


if __name__ == "__main__":
    main()
