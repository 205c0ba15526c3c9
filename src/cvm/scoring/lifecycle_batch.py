"""Life-cycle scores of the whole base in chunks of customers (part of ``cvm score``), in bounded memory.

Two passes over the chunks (:mod:`cvm.scoring.chunks`), each building the chunk's point-in-time features
with the same SQL on views restricted to its customers. The first keeps only each score's values, so the
grades rank the whole base (:mod:`cvm.scoring.grades`) as in one pass; the second scores the chunk with its
reason codes, takes its slice of those grades and writes its rows into the ``as_of`` partition of ``scores``
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
from cvm.scoring.assembly import champions_of, grade_rule, score_chunk, score_values
from cvm.scoring.chunks import base_grades, decode
from cvm.scoring.grades import GRADES
from cvm.scoring.guards import captured_warnings
from cvm.scoring.registry import ModelVersion
from cvm.store import OfflineStore
from cvm.store.chunks import Range, chunk_connection, customer_ranges
from cvm.store.partitions import Owned, replace_scores

LIFECYCLE = Owned(("churn", "default", "default_points"), ("propensity:",))  # the scores this stage writes


def _kind(name: str) -> str:
    return "propensity" if name.startswith("propensity:") else name


@dataclass
class BaseGrades:
    """Grades of the whole base per score, as codes; :meth:`__call__` grades the current chunk's slice."""

    codes: dict[str, np.ndarray[Any, Any]]
    why: dict[str, str | None]
    offset: int = 0

    def __call__(self, kind: str, name: str, values: Any, reasons: list[Any]) -> tuple[Any, list[Any], str | None]:
        """The chunk's grades of ``name`` (``kind`` is implied by the name) and its reasons."""
        why = self.why[name]
        grades = decode(self.codes[name][self.offset : self.offset + len(values)])
        if why is not None:
            known = ~np.isnan(np.asarray(values, dtype=np.float64))
            reasons = [f"{r};{why}" if k else r for r, k in zip(reasons, known, strict=True)]
        return grades, reasons, why


@dataclass
class LifecyclePlan:
    """The life-cycle scores of a base, graded, ready to be written chunk by chunk (:meth:`rows`)."""

    store: OfflineStore
    as_of: date
    champions: dict[str, ModelVersion]
    products: list[str]
    ranges: list[Range]
    grades: BaseGrades
    customers: int
    notes: list[str] = field(default_factory=list)

    def features(self, chunk: Range) -> pd.DataFrame:
        """Point-in-time features of the chunk's customers (sorted by id)."""
        with chunk_connection(self.store, chunk) as con:
            return build_features(con, self.as_of, products=self.products).to_pandas()

    def rows(self) -> Iterator[pl.DataFrame]:
        """Rows of the ``scores`` table, one frame per chunk."""
        self.grades.offset = 0
        with captured_warnings([]):
            for chunk in self.ranges:
                x = self.features(chunk)
                yield score_chunk(self.champions, x, self.as_of, [], self.grades)
                self.grades.offset += len(x)

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


def _source(name: str) -> str:
    return "default" if name == "default_points" else name


def plan_lifecycle(store: OfflineStore, workspace: Path, s: Settings, as_of: date) -> LifecyclePlan | None:
    """Score values of every chunk and the grades of the whole base (None without a champion)."""
    champions = champions_of(workspace)
    if not champions:
        return None
    products = sorted({p for c in champions.values() for p in c.meta.get("products", [])})
    ranges = customer_ranges(store, s.scoring.chunk_customers)
    plan = LifecyclePlan(store, as_of, champions, products, ranges, BaseGrades({}, {}), 0)
    values: dict[str, list[np.ndarray[Any, Any]]] = {}
    with captured_warnings(plan.notes):
        for chunk in ranges:
            x = plan.features(chunk)
            plan.customers += len(x)
            for name, value in score_values(champions, x).items():
                values.setdefault(name, []).append(np.asarray(value, dtype=np.float64))
    for name, parts in values.items():
        codes, why = base_grades(grade_rule(_kind(name), s), np.concatenate(parts), name)
        plan.grades.codes[name], plan.grades.why[name] = codes, why
        plan.notes += [why] if why else []
    return plan


def score_lifecycle(
    store: OfflineStore, workspace: Path, s: Settings, as_of: date
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Rows of the ``scores`` table from every champion, for every customer acquired before ``as_of``, in one
    frame (the chunked write is :func:`write_lifecycle_scores`)."""
    plan = plan_lifecycle(store, workspace, s, as_of)
    if plan is None:
        return pl.DataFrame(), {"skipped": "no trained champion (run `cvm train`)"}
    return pl.concat(list(plan.rows())), plan.info()


def write_lifecycle_scores(store: OfflineStore, workspace: Path, s: Settings, as_of: date) -> dict[str, Any]:
    """Score with the champions chunk by chunk and write the rows into the ``as_of`` partition (re-scoring a
    date replaces its life-cycle rows, and nothing else)."""
    plan = plan_lifecycle(store, workspace, s, as_of)
    if plan is None:
        return {"skipped": "no trained champion (run `cvm train`)"}
    if plan.customers:
        replace_scores(store, as_of, LIFECYCLE, plan.rows())
    return plan.info()
