"""Distributions of scores (CLV, churn, default ...) from the ``scores`` table, as histogram data.

Each customer counts once, with its latest row of the score (on or before ``as_of``). The early-warning
list and expected loss come with the risk issue.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from cvm.reporting.filters import latest_scores
from cvm.reporting.migration import GRADES
from cvm.reporting.periods import Frame, lazy

HISTOGRAM_SCHEMA = {
    "bin": pl.Int64,
    "lower": pl.Float64,
    "upper": pl.Float64,
    "customers": pl.Int64,
    "share": pl.Float64,
    "tail": pl.Boolean,
}


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
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    values = latest_scores(scores, score, as_of).select("value").collect()["value"].drop_nulls().to_numpy()
    if values.size == 0:
        return pl.DataFrame(schema=HISTOGRAM_SCHEMA)
    top = float(np.quantile(values, clip_quantile)) if clip_quantile is not None else float(values.max())
    low = float(values.min())
    top = max(top, low)
    counts, edges = np.histogram(np.clip(values, low, top), bins=bins, range=(low, top if top > low else low + 1.0))
    return pl.DataFrame(
        {
            "bin": np.arange(bins, dtype=np.int64),
            "lower": edges[:-1],
            "upper": edges[1:],
            "customers": counts.astype(np.int64),
            "share": counts / values.size,
            "tail": np.arange(bins) == bins - 1 if bool((values > top).any()) else np.zeros(bins, dtype=bool),
        }
    )


def grade_distribution(scores: Frame, score: str = "clv", as_of: date | None = None) -> pl.DataFrame:
    """Customers per grade of the latest ``score``: ``grade, customers, share, mean_value``."""
    latest = latest_scores(scores, score, as_of).collect()
    table = latest.group_by(grade=pl.col("grade").fill_null("(none)")).agg(
        customers=pl.len().cast(pl.Int64), mean_value=pl.col("value").mean()
    )
    rank = {g: i for i, g in enumerate(GRADES)}
    return (
        table.with_columns(share=pl.col("customers") / max(latest.height, 1))
        .sort(pl.col("grade").replace_strict(rank, default=len(rank), return_dtype=pl.Int64), "grade")
        .select("grade", "customers", "share", "mean_value")
    )


def score_names(scores: Frame) -> list[str]:
    """The score names present in the ``scores`` table, sorted."""
    names = lazy(scores).select(pl.col("score").unique()).collect()["score"].to_list()
    return sorted(str(n) for n in names if n is not None)
