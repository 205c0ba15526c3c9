"""Voice of the customer: NPS, would recommend and did recommend.

* NPS uses the 0-10 answer: promoters 9-10, passives 7-8, detractors 0-6;
  NPS = %promoters - %detractors, from -100 to +100.
* "Would recommend" and "did recommend" are tracked separately, as the share of yes among the
  answers to each question.
* Each survey response counts once (a customer who answers twice in a period counts twice); an
  unanswered question (null) is left out of that question's denominator.

Examples
--------
>>> nps_score(promoters=50, passives=30, detractors=20)
30.0
"""

from __future__ import annotations

import polars as pl
from sqlglot import exp

from cvm.reporting.filters import UNKNOWN
from cvm.reporting.periods import Frame, PeriodCode, lazy, period_code, require, with_period_columns
from cvm.reporting.queries import Runner, period_sql, run_local, within

VOC_COLUMNS = (
    "responses",
    "promoters",
    "passives",
    "detractors",
    "pct_promoters",
    "pct_passives",
    "pct_detractors",
    "nps",
    "would_recommend_answers",
    "pct_would_recommend",
    "did_recommend_answers",
    "pct_did_recommend",
)


def nps_score(promoters: int, passives: int, detractors: int) -> float | None:
    """NPS = %promoters - %detractors of the answers (``None`` without answers)."""
    total = promoters + passives + detractors
    return None if total == 0 else 100.0 * (promoters - detractors) / total


def _pct(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(100.0 * num.cast(pl.Float64) / den.cast(pl.Float64))


#: The counts per group, in SQL (a null answer is in no count but its own question's denominator).
_AGGREGATES = (
    "count(nps) AS responses, count(*) FILTER (WHERE nps >= 9) AS promoters, "
    "count(*) FILTER (WHERE nps BETWEEN 7 AND 8) AS passives, count(*) FILTER (WHERE nps <= 6) AS detractors, "
    "count(would_recommend) AS would_recommend_answers, count(*) FILTER (WHERE would_recommend) AS would_yes, "
    "count(did_recommend) AS did_recommend_answers, count(*) FILTER (WHERE did_recommend) AS did_yes"
)


def voc_sql(code: PeriodCode | None, segments: str | None, ids: str | None = None, table: str = "surveys") -> str:
    """The counts per [period,] [segment] of the survey answers, written once for every backend.

    ``segments`` is a query of ``customer_id, segment`` rows (:func:`cvm.reporting.filters.segment_sql`);
    ``ids`` the query of the customers a filter selects.
    """
    cols, keys = ["s.*"], []
    join = ""
    if code is not None:
        cols.append(f"{period_sql('s.ts', code)} AS p")
        keys.append("p")
    if segments is not None:
        cols.append(f"coalesce(g.segment, {exp.Literal.string(UNKNOWN).sql('duckdb')}) AS segment")
        join = f" LEFT JOIN ({segments}) g ON s.customer_id = g.customer_id"
        keys.append("segment")
    rows = f"SELECT {', '.join(cols)} FROM {table} s{join} WHERE TRUE{within(ids, 's.customer_id')}"
    group = f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}" if keys else ""
    return f"SELECT {''.join(k + ', ' for k in keys)}{_AGGREGATES} FROM ({rows}) r{group}"


def voc_table(run: Runner, code: PeriodCode | None, segments: str | None, ids: str | None = None) -> pl.DataFrame:
    """:func:`voc` of the stored surveys, run by ``run`` (an offline backend)."""
    table = _finish(run(voc_sql(code, segments, ids)))
    keys: list[str] = [k for k in ("p", "segment") if k in table.columns]
    if code is not None:
        table = with_period_columns(table.with_columns(pl.col("p").cast(pl.Int64)), code)
        keys = ["period", "period_start", *keys[1:]]
    return table.select(*keys, *VOC_COLUMNS)


def _finish(table: pl.DataFrame) -> pl.DataFrame:
    n = pl.col("responses")
    counts = ("responses", "promoters", "passives", "detractors", "would_recommend_answers", "did_recommend_answers")
    table = table.with_columns(pl.col(c).cast(pl.Int64) for c in (*counts, "would_yes", "did_yes"))
    return table.with_columns(
        pct_promoters=_pct(pl.col("promoters"), n),
        pct_passives=_pct(pl.col("passives"), n),
        pct_detractors=_pct(pl.col("detractors"), n),
        nps=_pct(pl.col("promoters") - pl.col("detractors"), n),
        pct_would_recommend=_pct(pl.col("would_yes").fill_null(0), pl.col("would_recommend_answers")),
        pct_did_recommend=_pct(pl.col("did_yes").fill_null(0), pl.col("did_recommend_answers")),
    )


def voc(
    surveys: Frame,
    period: str | None = "M",
    segments: Frame | None = None,
) -> pl.DataFrame:
    """NPS, % would recommend and % did recommend by period and, optionally, by segment.

    Parameters
    ----------
    surveys
        The ``surveys`` table: ``customer_id, ts, nps, would_recommend, did_recommend``.
    period
        ``"M" | "Q" | "Y"`` for one row per period, or ``None`` for one row over all time.
    segments
        ``customer_id, segment`` rows (see :func:`cvm.reporting.filters.segment_of`) to split by;
        customers absent from it fall under ``"(unknown)"``.

    Returns
    -------
    polars.DataFrame
        ``[period, period_start,] [segment,]`` then the counts and percentages of ``VOC_COLUMNS``
        (percentages and NPS in points, 0-100 and -100..+100; null without answers).
    """
    frame = lazy(surveys)
    require(frame, ("customer_id", "ts", "nps", "would_recommend", "did_recommend"), "the surveys table")
    code = period_code(period) if period is not None else None
    tables = {"surveys": frame.collect()}
    if segments is not None:
        tables["segments"] = lazy(segments).select("customer_id", "segment").collect()
    query = "SELECT customer_id, segment FROM segments" if segments is not None else None
    return voc_table(lambda sql: run_local(sql, tables), code, query)
