"""The monitor's reads on a remote offline backend (Spark): bin counts in one query, scores on a stated sample.

:func:`cvm.scoring.monitor.monitor` on DuckDB bins the whole scoring population in this process. On Spark the
feature PSI comes from one query over the feature definitions (:func:`~cvm.features.sql.feature_query`): per
profiled column, the rows in each of the training profile's bins, counted where the data is, so only those
counts reach the driver (:func:`feature_counts`). Scoring needs the models, which run on the driver: the
score PSI is taken on at most ``models.max_training_rows`` customers, the first by ``md5(customer_id)`` (the
sample :func:`~cvm.scoring.training_data.sampled_sql` takes for training, the same on every backend); the
whole population when it is smaller.

A bin is what :func:`numpy.searchsorted` (``side="right"``) gives: bin ``i`` holds ``edges[i-1] <= v <
edges[i]``; a missing value (null) is counted apart. Column names are the feature query's own, quoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlglot import exp

from cvm.features.on_backend import duckdb_types, frame_of
from cvm.features.sql import feature_query

if TYPE_CHECKING:
    from cvm.store.backend import OfflineBackend

#: Per profiled column: the counts of its bins (or categories, then "other"), and its missing values.
Counts = dict[str, tuple[list[int], int]]


def _double(value: float) -> str:
    return exp.cast(exp.Literal.string(repr(float(value))), "DOUBLE").sql("duckdb")


def _bins(column: str, prof: Mapping[str, Any]) -> list[str]:
    """The conditions of the profile's bins (or categories, then any other value) on ``column``."""
    q = exp.to_identifier(column, quoted=True).sql("duckdb")
    if "edges" in prof:
        x = f"CAST({q} AS DOUBLE)"
        edges = [_double(e) for e in prof["edges"]]
        bounds = [None, *edges, None]
        return [
            " AND ".join([f"{x} IS NOT NULL", *([f"{x} >= {lo}"] if lo else []), *([f"{x} < {hi}"] if hi else [])])
            for lo, hi in pairwise(bounds)
        ]
    text = f"CAST({q} AS VARCHAR)"
    cats = [exp.Literal.string(str(c)).sql("duckdb") for c in prof["categories"]]
    other = f"{text} IS NOT NULL" + (f" AND {text} NOT IN ({', '.join(cats)})" if cats else "")
    return [*(f"{text} = {c}" for c in cats), other]


def feature_counts(
    backend: OfflineBackend, as_of: date, products: list[str], baselines: Mapping[str, Mapping[str, Any]]
) -> tuple[int, Counts]:
    """Rows of the feature population at ``as_of`` and, per profiled column it has, its counts per bin."""
    sql = feature_query(as_of, products)
    present = set(duckdb_types(sql))
    cols: list[str] = ["count(*) AS n"]
    plan: dict[str, int] = {}
    for column, prof in baselines.items():
        if column not in present or column in plan:
            continue
        bins = _bins(column, prof)
        plan[column] = len(bins)
        q = exp.to_identifier(column, quoted=True).sql("duckdb")
        k = len(plan) - 1
        cols += [f"count(*) FILTER (WHERE {cond}) AS c{k}_{i}" for i, cond in enumerate(bins)]
        cols.append(f"count(*) FILTER (WHERE {q} IS NULL) AS c{k}_missing")
    row = backend.query(f"SELECT {', '.join(cols)} FROM ({sql}) f").to_pylist()[0]
    out: Counts = {}
    for k, (column, size) in enumerate(plan.items()):
        out[column] = ([int(row[f"c{k}_{i}"]) for i in range(size)], int(row[f"c{k}_missing"]))
    return int(row["n"]), out


def sampled_features(backend: OfflineBackend, as_of: date, products: list[str], cap: int) -> pd.DataFrame:
    """At most ``cap`` customers' features at ``as_of`` (the first by ``md5(customer_id)``), by customer."""
    sql = feature_query(as_of, products)
    sample = f"SELECT * FROM ({sql}) AS f ORDER BY md5(f.customer_id) LIMIT {int(cap)}"
    return frame_of(backend, f"SELECT * FROM ({sample}) AS k ORDER BY k.customer_id").to_pandas()
