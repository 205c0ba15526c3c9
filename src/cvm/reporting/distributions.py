"""Distributions of scores (CLV, churn, default ...) from the ``scores`` table, as histogram data.

Each customer counts once, with its latest row of the score (on or before ``as_of``). The early-warning
list and expected loss come with the risk issue.

The counts are queries written once in DuckDB's dialect (:mod:`cvm.reporting.queries`): the offline backend
runs them over the stored scores (DuckDB here, or Spark), so only the counts per bin and grade reach this
process; the pure functions run the same queries on an in-process DuckDB over the frame they are given.
"""

from __future__ import annotations

from datetime import date

import polars as pl
from sqlglot import exp

from cvm.errors import BadValueError
from cvm.reporting.filters import latest_sql
from cvm.reporting.migration import GRADES
from cvm.reporting.periods import Frame, lazy, require
from cvm.reporting.queries import Runner, run_local, within

HISTOGRAM_SCHEMA = {
    "bin": pl.Int64,
    "lower": pl.Float64,
    "upper": pl.Float64,
    "customers": pl.Int64,
    "share": pl.Float64,
    "tail": pl.Boolean,
}
SCORE_COLUMNS = ("customer_id", "as_of", "score", "value", "grade")


def _double(value: float) -> str:
    """An exact double literal (parsed from its shortest repr, the same on every backend)."""
    return exp.cast(exp.Literal.string(repr(float(value))), "DOUBLE").sql("duckdb")


def latest_values_sql(score: str, as_of: date | None, ids: str | None = None) -> str:
    """The latest non-null value of ``score`` per customer (of ``ids``, when a filter selects some), as ``v``."""
    latest = latest_sql(score, as_of).sql(dialect="duckdb")
    return f"SELECT value AS v FROM ({latest}) l WHERE value IS NOT NULL{within(ids)}"


def histogram_table(
    run: Runner,
    score: str = "clv",
    bins: int = 20,
    as_of: date | None = None,
    clip_quantile: float | None = 0.99,
    ids: str | None = None,
) -> pl.DataFrame:
    """:func:`score_histogram` of the stored scores, run by ``run`` (an offline backend): two small queries.

    The edges are numpy's (``linspace``); a value falls in bin ``i`` when ``lower <= v < upper`` (the last
    bin is closed), as in :func:`numpy.histogram`.
    """
    import numpy as np  # only the histogram needs it

    if bins < 1:
        raise BadValueError(f"bins must be at least 1, got {bins}")
    values = latest_values_sql(score, as_of, ids)
    top_sql = "max(v)" if clip_quantile is None else f"quantile_cont(v, {_double(clip_quantile)})"
    stats = run(f"SELECT count(*) AS n, min(v) AS low, {top_sql} AS top FROM ({values}) x")
    n = int(stats["n"][0] or 0)
    if n == 0:
        return pl.DataFrame(schema=HISTOGRAM_SCHEMA)
    low = float(stats["low"][0])
    top = max(float(stats["top"][0]), low)
    edges = np.linspace(low, top if top > low else low + 1.0, bins + 1)
    clipped = f"CASE WHEN v > {_double(top)} THEN {_double(top)} ELSE v END"  # numpy.clip(values, low, top)
    index = " + ".join(["0", *(f"CASE WHEN {clipped} >= {_double(e)} THEN 1 ELSE 0 END" for e in edges[1:-1])])
    counted = run(
        f"SELECT CAST({index} AS BIGINT) AS bin, count(*) AS customers, "
        f"CAST(sum(CASE WHEN v > {_double(top)} THEN 1 ELSE 0 END) AS BIGINT) AS above FROM ({values}) x GROUP BY 1"
    ).cast({"bin": pl.Int64, "customers": pl.Int64, "above": pl.Int64})
    counts = np.zeros(bins, dtype=np.int64)
    counts[counted["bin"].to_numpy()] = counted["customers"].to_numpy()
    tail = int(counted["above"].sum()) > 0
    return pl.DataFrame(
        {
            "bin": np.arange(bins, dtype=np.int64),
            "lower": edges[:-1],
            "upper": edges[1:],
            "customers": counts,
            "share": counts / n,
            "tail": np.arange(bins) == bins - 1 if tail else np.zeros(bins, dtype=bool),
        }
    )


def grade_table(run: Runner, score: str = "clv", as_of: date | None = None, ids: str | None = None) -> pl.DataFrame:
    """:func:`grade_distribution` of the stored scores, run by ``run`` (an offline backend)."""
    latest = latest_sql(score, as_of).sql(dialect="duckdb")
    table = run(
        "SELECT coalesce(grade, '(none)') AS grade, count(*) AS customers, avg(value) AS mean_value "
        f"FROM ({latest}) l WHERE TRUE{within(ids)} GROUP BY 1"
    ).cast({"grade": pl.Utf8, "customers": pl.Int64, "mean_value": pl.Float64})
    rank = {g: i for i, g in enumerate(GRADES)}
    return (
        table.with_columns(share=pl.col("customers") / max(int(table["customers"].sum()), 1))
        .sort(pl.col("grade").replace_strict(rank, default=len(rank), return_dtype=pl.Int64), "grade")
        .select("grade", "customers", "share", "mean_value")
    )


def names_of(run: Runner) -> list[str]:
    """The score names present in the stored ``scores``, sorted."""
    names = run("SELECT DISTINCT score FROM scores WHERE score IS NOT NULL")["score"].to_list()
    return sorted(str(n) for n in names)


def _local(scores: Frame) -> Runner:
    frame = lazy(scores)
    require(frame, SCORE_COLUMNS, "the scores table")
    tables = {"scores": frame.select(*SCORE_COLUMNS).collect()}
    return lambda sql: run_local(sql, tables)


def score_histogram(
    scores: Frame, score: str = "clv", bins: int = 20, as_of: date | None = None, clip_quantile: float | None = 0.99
) -> pl.DataFrame:
    """Equal-width histogram of the latest ``score`` values: ``bin, lower, upper, customers, share, tail``.

    Values above the ``clip_quantile`` (default the 99th percentile, so that a long CLV tail does not
    squash the chart) fall into the last bin, then flagged ``tail`` (a catch-all: "≥ its lower edge");
    ``None`` keeps the full range. Null values are left out.

    Examples
    --------
    >>> s = pl.DataFrame({"customer_id": list("abcd"), "as_of": [date(2024, 1, 1)] * 4, "score": ["clv"] * 4,
    ...     "value": [0.0, 1.0, 2.0, 4.0], "grade": ["low", "low", "medium", "high"]})
    >>> score_histogram(s, bins=2, clip_quantile=None)["customers"].to_list()
    [2, 2]
    """
    return histogram_table(_local(scores), score, bins, as_of, clip_quantile)


def grade_distribution(scores: Frame, score: str = "clv", as_of: date | None = None) -> pl.DataFrame:
    """Customers per grade of the latest ``score``: ``grade, customers, share, mean_value``."""
    return grade_table(_local(scores), score, as_of)


def score_names(scores: Frame) -> list[str]:
    """The score names present in the ``scores`` table, sorted."""
    return names_of(_local(scores))
