"""Gross and net margin of the last 12 months per segment, next to its size (the dashboard's segments page).

Each member of a segment at a refresh counts with their newest ``margin_12m`` and ``net_margin_12m`` scored on or
before that refresh (:mod:`cvm.scoring.cost_to_serve`); a member not scored yet counts for nothing and the
``scored`` count says how many were.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from cvm.store import OfflineStore

MARGIN_SCORES = ("margin_12m", "net_margin_12m")


def segment_margins(store: OfflineStore, as_of: date) -> dict[str, dict[str, Any]]:
    """``{segment: {"margin_12m", "net_margin_12m", "scored"}}`` at the refresh of ``as_of``."""
    latest = (
        store.scan("scores")
        .filter(pl.col("as_of") <= as_of, pl.col("score").is_in(MARGIN_SCORES))
        .sort("as_of")
        .group_by("customer_id", "score")
        .agg(pl.col("value").last())
        .collect()
    )
    per_customer = (
        latest.pivot(on="score", index="customer_id", values="value")
        if latest.height
        else pl.DataFrame(schema={"customer_id": pl.Utf8})
    )
    for score in MARGIN_SCORES:
        if score not in per_customer.columns:
            per_customer = per_customer.with_columns(pl.lit(None, pl.Float64).alias(score))
    members = store.scan("segment_membership").filter(pl.col("as_of") == as_of).select("customer_id", "segment")
    sums = (
        members.collect()
        .join(per_customer, on="customer_id", how="left")
        .group_by("segment")
        .agg(
            pl.col("margin_12m").sum().round(2),
            pl.col("net_margin_12m").sum().round(2),
            pl.col("net_margin_12m").is_not_null().sum().alias("scored"),
        )
    )
    return {row.pop("segment"): row for row in sums.to_dicts()}
