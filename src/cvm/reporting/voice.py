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

from cvm.reporting.filters import UNKNOWN
from cvm.reporting.periods import Frame, lazy, period_code, period_index, require, with_period_columns

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


def _aggregates() -> list[pl.Expr]:
    nps = pl.col("nps")
    would, did = pl.col("would_recommend"), pl.col("did_recommend")
    return [
        nps.is_not_null().sum().alias("responses"),
        (nps >= 9).sum().alias("promoters"),
        nps.is_between(7, 8).sum().alias("passives"),
        (nps <= 6).sum().alias("detractors"),
        would.is_not_null().sum().alias("would_recommend_answers"),
        would.cast(pl.Int64).sum().alias("would_yes"),
        did.is_not_null().sum().alias("did_recommend_answers"),
        did.cast(pl.Int64).sum().alias("did_yes"),
    ]


def _finish(table: pl.DataFrame) -> pl.DataFrame:
    n = pl.col("responses")
    counts = ("responses", "promoters", "passives", "detractors", "would_recommend_answers", "did_recommend_answers")
    return table.with_columns(pl.col(c).cast(pl.Int64) for c in counts).with_columns(
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
    keys: list[str] = []
    code = period_code(period) if period is not None else None
    if code is not None:
        frame = frame.with_columns(p=period_index(pl.col("ts"), code))
        keys.append("p")
    if segments is not None:
        frame = frame.join(lazy(segments).select("customer_id", "segment"), on="customer_id", how="left")
        frame = frame.with_columns(pl.col("segment").fill_null(UNKNOWN))
        keys.append("segment")
    if keys:
        table = _finish(frame.group_by(keys).agg(_aggregates()).sort(keys).collect())
    else:
        table = _finish(frame.select(_aggregates()).collect())
    if code is not None:
        table = with_period_columns(table, code)
        keys = ["period", "period_start", *keys[1:]]
    return table.select(*keys, *VOC_COLUMNS)
