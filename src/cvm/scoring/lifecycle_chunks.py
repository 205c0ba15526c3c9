"""Life-cycle scores of the whole base on DuckDB (part of ``cvm score``), in bounded memory.

The feature query (:func:`cvm.features.feature_query`) streams chunk by chunk of customers
(:meth:`cvm.store.backend.DuckDBBackend.batches` with ``per_customer``). Each batch is scored row by row by
the functions a Spark worker runs (:func:`cvm.scoring.lifecycle_batch.scored`) and staged, ungraded, in a
private folder; the graded values are kept (8 bytes per customer and score). The grades by share then become
value thresholds once, as on Spark (:mod:`cvm.scoring.grade_plans`), and each staged batch is graded by
them on its way into the ``as_of`` partition of ``scores`` (:func:`cvm.store.partitions.replace_scores`),
all in one transaction. One batch or many give the same rows.

Imports from a sibling stage: :mod:`cvm.features` (the feature query): a batch is scored on point-in-time
features built by the same definitions the models were trained on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from cvm.config.settings import Settings
from cvm.features import feature_query
from cvm.features.on_backend import duckdb_types
from cvm.scoring.assembly import _rows, champions_of, grade_rule
from cvm.scoring.grade_plans import GradePlan, plan, stats_of
from cvm.scoring.guards import captured_warnings
from cvm.scoring.lifecycle_batch import Champions, features_of, scored
from cvm.scoring.rows import SCORE_COLUMNS
from cvm.store import OfflineStore
from cvm.store.backend import DuckDBBackend
from cvm.store.chunks import staging_folder
from cvm.store.partitions import Owned, replace_scores

LIFECYCLE = Owned(("churn", "default", "default_points"), ("propensity:",))  # the scores this stage writes
SHARED = {"default_points": "default"}  # a score that takes the grade and reasons of another


@dataclass
class LifecyclePlan:
    """The life-cycle scores of a base: each batch's rows staged ungraded, and a grade plan per graded score."""

    champions: Champions
    staged: list[Path] = field(default_factory=list)
    values: dict[str, list[np.ndarray[Any, Any]]] = field(default_factory=dict)  # per graded score, per batch
    plans: dict[str, GradePlan] = field(default_factory=dict)
    grades: dict[str, dict[str, int]] = field(default_factory=dict)  # counted as the rows are graded
    customers: int = 0
    rows_staged: int = 0
    notes: list[str] = field(default_factory=list)

    def stage(self, rows: pl.DataFrame, path: Path) -> None:
        """Keep an ungraded batch of rows on disk."""
        rows.write_parquet(path, compression="lz4")
        self.staged.append(path)
        self.rows_staged += rows.height

    def graded(self, rows: pl.DataFrame) -> pl.DataFrame:
        """A staged batch graded by the plans (a shared score takes its source's grade and reasons)."""
        blocks = rows.partition_by("score", maintain_order=True, as_dict=True)
        out = []
        done: dict[str, tuple[list[Any], list[Any]]] = {}
        for (name,), block in blocks.items():
            source = SHARED.get(str(name), str(name))
            if source not in done:
                values = blocks[(source,)]["value"].to_numpy().astype(np.float64)
                graded, kept = self.plans[source].grade(values, blocks[(source,)]["reasons"].to_list())
                done[source] = (list(graded), kept)
            grades, reasons = done[source]
            counts = self.grades.setdefault(str(name), {"high": 0, "medium": 0, "low": 0})
            for g in counts:
                counts[g] += grades.count(g)
            out.append(
                block.with_columns(
                    pl.Series("grade", grades, dtype=pl.Utf8), pl.Series("reasons", reasons, dtype=pl.Utf8)
                )
            )
        return pl.concat(out).select(SCORE_COLUMNS)

    def rows(self) -> Iterator[pl.DataFrame]:
        """Rows of the ``scores`` table, one graded frame per staged batch."""
        for path in self.staged:
            yield self.graded(pl.read_parquet(path))

    def info(self) -> dict[str, Any]:
        """What ``cvm score`` reports of the life-cycle scores (the grades once :meth:`rows` were written)."""
        return {
            "customers": self.customers,
            "rows": self.rows_staged,
            "models": {n: self.champions.tag(n) for n in self.champions.docs},
            "grades": self.grades,
            "notes": self.notes,
        }


def _ungraded(champions: Champions, plan_: LifecyclePlan, x: Any, as_of: date) -> pl.DataFrame:
    """Rows of a batch without grades; the graded values are kept in ``plan_``."""
    ids = x["customer_id"]
    parts = []
    for one in scored(champions, x):
        plan_.values.setdefault(one.score, []).append(np.asarray(one.values, dtype=np.float64))
        none = np.full(len(ids), None, dtype=object)
        tag = champions.tag(one.model)
        parts += [_rows(ids, name, v, none, tag, one.reasons) for name, v in ((one.score, one.values), *one.shared)]
    return pl.concat(parts).with_columns(pl.lit(as_of).alias("as_of")).select(SCORE_COLUMNS)


def plan_lifecycle(
    backend: DuckDBBackend, workspace: Path, s: Settings, as_of: date, staging: Path
) -> LifecyclePlan | None:
    """Score every batch into ``staging`` (rows without grades), then plan the grades of the whole base's
    values (None without a champion)."""
    found = champions_of(workspace)
    if not found:
        return None
    champions = Champions.of(found)
    sql = feature_query(as_of, champions.products())
    types = duckdb_types(sql)
    plan_ = LifecyclePlan(champions)
    with captured_warnings(plan_.notes):
        for k, batch in enumerate(backend.batches(sql, per_customer=True)):
            if batch.num_rows:
                x = features_of(types, batch)
                plan_.stage(_ungraded(champions, plan_, x, as_of), staging / f"batch-{k:05d}.parquet")
                plan_.customers += len(x)
    for name, parts in plan_.values.items():
        rule = grade_rule(name.split(":", 1)[0], s)
        values = np.concatenate(parts)
        plan_.plans[name] = plan(rule, stats_of(values, rule), name)
        why = plan_.plans[name].why
        plan_.notes += [why] if why else []
    return plan_


def write_lifecycle_scores(store: OfflineStore, workspace: Path, s: Settings, as_of: date) -> dict[str, Any]:
    """Score with the champions batch by batch and write the rows into the ``as_of`` partition (re-scoring a
    date replaces its life-cycle rows, and nothing else)."""
    backend = DuckDBBackend(store, chunk_customers=s.scoring.chunk_customers)
    with staging_folder(store) as staging:
        plan_ = plan_lifecycle(backend, workspace, s, as_of, staging)
        if plan_ is None:
            return {"skipped": "no trained champion (run `cvm train`)"}
        if plan_.customers:
            replace_scores(store, as_of, LIFECYCLE, plan_.rows())
        return plan_.info()
