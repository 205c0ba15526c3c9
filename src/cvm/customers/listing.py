"""The customers list's extra columns: value (latest CLV), value grade and life-cycle stage, and its sort keys.

``value`` and ``grade`` are the customer's latest ``clv`` score (``cvm score``); ``stage`` is the
customer's life-cycle stage at the latest stored segment refresh (the stages of ``cvm.yaml``).
Customers not scored or not segmented yet have none.

Sorting takes one of :data:`SORTS` only (``-`` in front for descending): a user's text never
becomes an expression, a column name or SQL.

Imports from a sibling stage: :mod:`cvm.reporting.filters`, so that the list filters customers with
the same definition as the reports' filters.
"""

from __future__ import annotations

import polars as pl

from cvm.reporting.filters import latest_scores
from cvm.store import OfflineStore

LISTED = ("value", "grade", "stage")
SORTS = ("customer_id", "name", "value", "grade", "stage", "acquired_at")
GRADE_ORDER = {"low": 0, "medium": 1, "high": 2}


def value_and_stage(store: OfflineStore) -> pl.LazyFrame:
    """``customer_id, value, grade, stage`` of every customer that has a score or a stage."""
    value = latest_scores(store.scan("scores"), "clv").select("customer_id", "value", "grade")
    stored = store.scan("segment_membership").filter(pl.col("segment").str.starts_with("stage:"))
    stage = stored.filter(pl.col("as_of") == pl.col("as_of").max()).select(
        "customer_id", stage=pl.col("segment").str.strip_prefix("stage:")
    )
    return value.join(stage, on="customer_id", how="full", coalesce=True)


def sort_key(sort: str | None) -> tuple[str, bool]:
    """``(column, descending)`` for a requested sort; anything not in :data:`SORTS` sorts by customer id."""
    text = (sort or "").strip()
    descending = text.startswith("-")
    column = text.removeprefix("-")
    return (column, descending) if column in SORTS else ("customer_id", False)


def sorted_frame(frame: pl.DataFrame, sort: str | None) -> pl.DataFrame:
    """``frame`` in the requested order (missing values last), ties by customer id."""
    column, descending = sort_key(sort)
    if column == "customer_id":
        return frame.sort("customer_id", descending=descending)
    key = pl.col(column).replace_strict(GRADE_ORDER, default=None) if column == "grade" else pl.col(column)
    return frame.sort([key, pl.col("customer_id")], descending=[descending, False], nulls_last=True)
