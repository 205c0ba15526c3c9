"""Whether a report's inputs are there: a figure that needs a missing or empty table is "not available".

A report computed without its input would show a number that means nothing: silent churn with no
contacts table is 100% (no churned customer was ever contacted), the NPS of no survey is blank. Each
report builder asks :func:`missing` about the tables it needs; when one is empty in the whole hub (not
just in the filtered selection), its figures are null and ``summary["not_available"]`` says why, for the
CLI, the JSON, the HTML report and the dashboard.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from cvm.reporting.queries import Runner

SILENT_FIGURES = ("silent", "share_customers", "silent_revenue_lost", "share_revenue")
REASON_FIGURES = ("voluntary", "involuntary")
WHY = {
    "scores": "no scores yet: run `cvm score`",
    "segment_membership": "no life-cycle stages stored yet: run `cvm segments refresh` or `cvm run`",
    "subscriptions": "no subscriptions loaded: churn is counted by inactivity only, without reasons",
}


def missing(run: Runner, table: str) -> str | None:
    """Why a figure needing ``table`` is not available (``"no <table> loaded"``) when it has no row, else None.

    ``run`` runs the query on the offline backend (where the table is), which reads at most one row.
    """
    rows = run(f"SELECT count(*) AS n FROM (SELECT 1 AS one FROM {table} LIMIT 1) t")["n"][0]
    return WHY.get(table, f"no {table} loaded") if not rows else None


def without(summary: dict[str, Any], figures: tuple[str, ...], reason: str) -> dict[str, Any]:
    """``summary`` with ``figures`` set to null and the reason under ``not_available``."""
    return {**summary, **dict.fromkeys(figures, None), "not_available": reason}


def silent_unavailable(by_period: pl.DataFrame) -> pl.DataFrame:
    """The silent-churn table with its silent figures null (the churned counts stay)."""
    return by_period.with_columns(pl.lit(None, dtype=by_period[c].dtype).alias(c) for c in SILENT_FIGURES)
