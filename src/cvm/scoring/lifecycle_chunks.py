"""Life-cycle scores of the whole base in chunks of customers (part of ``cvm score``), in bounded memory.

Each chunk (:mod:`cvm.store.chunks`) builds its customers' point-in-time features with the same SQL on views
restricted to them, is scored with its reason codes and staged, ungraded, in a private folder; its values
are kept. The grades then rank the whole base's values (:mod:`cvm.scoring.grades`) as in one pass, and each
staged chunk takes its slice of them on its way into the ``as_of`` partition of ``scores``
(:func:`cvm.store.partitions.replace_scores`), all in one transaction.

Imports from a sibling stage: :mod:`cvm.features` (the feature SQL): a chunk is scored on point-in-time
features built by the same definitions the models were trained on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cvm.config.settings import Settings
from cvm.features import build_features
from cvm.scoring.assembly import champions_of, grade_rule, score_chunk
from cvm.scoring.chunks import base_grades, grade_series
from cvm.scoring.grades import GRADES
from cvm.scoring.guards import captured_warnings
from cvm.scoring.registry import ModelVersion
from cvm.store import OfflineStore
from cvm.store.chunks import Range, chunk_connection, customer_ranges, staging_folder
from cvm.store.partitions import Owned, replace_scores

LIFECYCLE = Owned(("churn", "default", "default_points"), ("propensity:",))  # the scores this stage writes


def _kind(name: str) -> str:
    return "propensity" if name.startswith("propensity:") else name


def _source(name: str) -> str:
    return "default" if name == "default_points" else name


@dataclass
class Deferred:
    """A grader that grades nothing yet: it keeps each score's values, to grade the whole base at the end."""

    values: dict[str, list[np.ndarray[Any, Any]]] = field(default_factory=dict)

    def __call__(self, kind: str, name: str, values: Any, reasons: list[Any]) -> tuple[Any, list[Any], str | None]:
        """No grades; the values are kept."""
        self.values.setdefault(name, []).append(np.asarray(values, dtype=np.float64))
        return np.full(len(reasons), None, dtype=object), reasons, None


@dataclass
class BaseGrades:
    """Grades of the whole base per score, as codes, and why a score is not graded."""

    codes: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict)
    why: dict[str, str | None] = field(default_factory=dict)

    def apply(self, rows: pl.DataFrame, offset: int, customers: int) -> pl.DataFrame:
        """The grades of a chunk's staged ``rows`` (one block of ``customers`` rows per score, in the chunk's
        customer order); a score that cannot be graded says why in the reasons of its valued rows."""
        names = rows["score"].gather_every(customers).to_list() if customers else []
        codes = [self.codes[_source(n)][offset : offset + customers] for n in names]
        why = np.repeat(np.asarray([self.why[_source(n)] for n in names], dtype=object), customers)
        joined = pl.concat_str([pl.col("reasons"), pl.col("_why")], separator=";")
        return (
            rows.with_columns(
                grade_series(np.concatenate(codes) if codes else np.zeros(0, dtype=np.int8)),
                pl.Series("_why", why, dtype=pl.Utf8),
            )
            .with_columns(
                pl.when(pl.col("_why").is_not_null() & pl.col("value").is_not_null())
                .then(joined)
                .otherwise(pl.col("reasons"))
                .alias("reasons")
            )
            .drop("_why")
        )


@dataclass
class LifecyclePlan:
    """The life-cycle scores of a base: each chunk's rows staged ungraded, and the grades of the whole base."""

    store: OfflineStore
    as_of: date
    champions: dict[str, ModelVersion]
    products: list[str]
    staging: Path
    grades: BaseGrades = field(default_factory=BaseGrades)
    chunks: list[tuple[Path, int]] = field(default_factory=list)  # staged file and customers per chunk
    notes: list[str] = field(default_factory=list)

    def features(self, chunk: Range) -> pd.DataFrame:
        """Point-in-time features of the chunk's customers (sorted by id)."""
        with chunk_connection(self.store, chunk) as con:
            return build_features(con, self.as_of, products=self.products).to_pandas()

    @property
    def customers(self) -> int:
        return sum(n for _, n in self.chunks)

    def rows(self) -> Iterator[pl.DataFrame]:
        """Rows of the ``scores`` table, one graded frame per chunk."""
        offset = 0
        for path, customers in self.chunks:
            yield self.grades.apply(pl.read_parquet(path), offset, customers)
            offset += customers

    def info(self) -> dict[str, Any]:
        """What ``cvm score`` reports of the life-cycle scores."""
        names = [*self.grades.codes]
        if "default" in names:
            names.insert(names.index("default") + 1, "default_points")
        grades = {}
        for name in names:
            counts = np.bincount(self.grades.codes[_source(name)], minlength=len(GRADES) + 1)
            grades[name] = {g: int(counts[GRADES.index(g) + 1]) for g in reversed(GRADES)}
        return {
            "customers": self.customers,
            "rows": self.customers * len(names),
            "models": {n: c.tag for n, c in self.champions.items()},
            "grades": grades,
            "notes": self.notes,
        }


def plan_lifecycle(
    store: OfflineStore, workspace: Path, s: Settings, as_of: date, staging: Path
) -> LifecyclePlan | None:
    """Score every chunk into ``staging`` (rows without grades), then grade the whole base's values (None
    without a champion)."""
    champions = champions_of(workspace)
    if not champions:
        return None
    products = sorted({p for c in champions.values() for p in c.meta.get("products", [])})
    plan = LifecyclePlan(store, as_of, champions, products, staging)
    deferred = Deferred()
    with captured_warnings(plan.notes):
        for k, chunk in enumerate(customer_ranges(store, s.scoring.chunk_customers)):
            x = plan.features(chunk)
            path = staging / f"chunk-{k:05d}.parquet"
            score_chunk(champions, x, as_of, plan.notes, deferred).write_parquet(path, compression="lz4")
            plan.chunks.append((path, len(x)))
    for name, parts in deferred.values.items():
        codes, why = base_grades(grade_rule(_kind(name), s), np.concatenate(parts), name)
        plan.grades.codes[name], plan.grades.why[name] = codes, why
        plan.notes += [why] if why else []
    return plan


def score_lifecycle(
    store: OfflineStore, workspace: Path, s: Settings, as_of: date
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Rows of the ``scores`` table from every champion, for every customer acquired before ``as_of``, in one
    frame (the chunked write is :func:`write_lifecycle_scores`)."""
    with staging_folder(store) as staging:
        plan = plan_lifecycle(store, workspace, s, as_of, staging)
        if plan is None:
            return pl.DataFrame(), {"skipped": "no trained champion (run `cvm train`)"}
        return pl.concat(list(plan.rows())), plan.info()


def write_lifecycle_scores(store: OfflineStore, workspace: Path, s: Settings, as_of: date) -> dict[str, Any]:
    """Score with the champions chunk by chunk and write the rows into the ``as_of`` partition (re-scoring a
    date replaces its life-cycle rows, and nothing else)."""
    with staging_folder(store) as staging:
        plan = plan_lifecycle(store, workspace, s, as_of, staging)
        if plan is None:
            return {"skipped": "no trained champion (run `cvm train`)"}
        if plan.customers:
            replace_scores(store, as_of, LIFECYCLE, plan.rows())
        return plan.info()
