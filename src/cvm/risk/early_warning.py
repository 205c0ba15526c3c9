"""Early warning: customers whose default score fell, from the history of the ``scores`` table.

A customer is flagged at ``as_of`` when, against their best ``default_points`` of the
``early_warning_days`` before it, the points fell by more than ``early_warning_drop``, or their
default grade worsened (low → medium → high risk). Flags are written as score ``early_warning``:
``value`` is the points drop, ``grade`` is ``high`` when both happened and ``medium`` when one did,
and the reasons say from what to what, then the scorecard's top reason.

Examples
--------
>>> flagged = early_warning(store, RiskSettings(), date(2024, 12, 31))  # doctest: +SKIP
>>> flagged.columns[:4]  # doctest: +SKIP
['customer_id', 'as_of', 'score', 'value']
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from cvm.config.settings import RiskSettings
from cvm.contracts.tables import SCORES
from cvm.store import OfflineStore
from cvm.store.chunks import Range, customer_ranges, scan
from cvm.store.partitions import Owned, replace_scores

SCORE_COLUMNS = SCORES.column_names  # the columns of the ``scores`` table (:mod:`cvm.contracts.tables`)
RANK = {"low": 0, "medium": 1, "high": 2}
SCORE = "early_warning"
POINT_COLUMNS = ("customer_id", "as_of", "value", "grade", "model_version", "reasons")
CHUNK_CUSTOMERS = 500_000  # customers whose score history is read at once (scoring.chunk_customers)


def _latest(store: OfflineStore) -> date | None:
    value = (
        store.scan("scores").filter(pl.col("score") == "default_points").select(pl.col("as_of").max()).collect().item()
    )
    return value if isinstance(value, date) else None


def _points(store: OfflineStore, as_of: date, since: date, chunk: Range) -> pl.DataFrame:
    """The chunk's ``default_points`` rows dated ``since`` .. ``as_of`` (only those partitions are read)."""
    days = [d for d in store.partitions("scores") if since.isoformat() <= d <= as_of.isoformat()]
    frames = [scan(store, "scores", chunk, partition=d) for d in days]
    if not frames:
        return store.scan("scores").head(0).select(POINT_COLUMNS).collect()
    return (
        pl.concat(frames)
        .filter((pl.col("score") == "default_points") & (pl.col("as_of") >= since) & (pl.col("as_of") <= as_of))
        .select(*POINT_COLUMNS)
        .collect()
    )


def _flags(points: pl.DataFrame, risk: RiskSettings, as_of: date) -> pl.DataFrame:
    """The customers of ``points`` flagged at ``as_of``, as ``scores`` rows."""
    now = points.filter(pl.col("as_of") == as_of)
    before = (
        points.filter(pl.col("as_of") < as_of)
        .sort(["value", "as_of"], descending=True)  # the best points; of equal ones, the latest
        .group_by("customer_id", maintain_order=True)
        .first()
        .select(
            "customer_id",
            pl.col("as_of").alias("ref_as_of"),
            pl.col("value").alias("ref"),
            pl.col("grade").alias("ref_grade"),
        )
    )
    return flags(now.join(before, on="customer_id"), risk, as_of)


def flags(joined: pl.DataFrame, risk: RiskSettings, as_of: date) -> pl.DataFrame:
    """The flagged rows of ``joined`` (each customer's ``default_points`` row at ``as_of`` with its reference
    ``ref_as_of, ref, ref_grade``), as ``scores`` rows, worst first; row by row, so any batch of them."""
    rank = {k: v for k, v in RANK.items()}
    joined = joined.with_columns(
        (pl.col("ref") - pl.col("value")).alias("drop"),
        (pl.col("grade").replace_strict(rank, default=None) > pl.col("ref_grade").replace_strict(rank, default=None))
        .fill_null(False)
        .alias("worse"),
    )
    fell = pl.col("drop") > risk.early_warning_drop
    flagged = joined.filter(fell | pl.col("worse"))
    first_reason = pl.col("reasons").fill_null("").str.split(";").list.first()
    return flagged.select(
        "customer_id",
        pl.lit(as_of).alias("as_of"),
        pl.lit(SCORE).alias("score"),
        pl.col("drop").alias("value"),
        pl.when(fell & pl.col("worse")).then(pl.lit("high")).otherwise(pl.lit("medium")).alias("grade"),
        "model_version",
        pl.concat_str(
            [
                pl.format(
                    "points {}->{} since {}",
                    pl.col("ref").round(0).cast(pl.Int64),
                    pl.col("value").round(0).cast(pl.Int64),
                    pl.col("ref_as_of").cast(pl.Utf8),
                ),
                pl.when(pl.col("worse")).then(pl.format("grade {}->{}", pl.col("ref_grade"), pl.col("grade"))),
                first_reason,
            ],
            separator=";",
            ignore_nulls=True,
        ).alias("reasons"),
    )


def early_warning(
    store: OfflineStore, risk: RiskSettings, as_of: date | None = None, chunk_customers: int = CHUNK_CUSTOMERS
) -> pl.DataFrame:
    """The flagged customers at ``as_of`` (default: the latest scoring), as ``scores`` rows, worst first.

    The score history is read ``chunk_customers`` customers at a time (:mod:`cvm.scoring.chunks`).
    """
    as_of = as_of or _latest(store)
    if as_of is None:
        return pl.DataFrame(schema={c: pl.Utf8 for c in SCORE_COLUMNS})
    since = as_of - timedelta(days=risk.early_warning_days)
    chunks = customer_ranges(store, chunk_customers)
    parts = [_flags(_points(store, as_of, since, chunk), risk, as_of) for chunk in chunks]
    return pl.concat(parts).sort("value", descending=True).select(SCORE_COLUMNS)


def write_early_warning(
    store: OfflineStore, risk: RiskSettings, as_of: date, chunk_customers: int = CHUNK_CUSTOMERS
) -> pl.DataFrame:
    """Compute the flags at ``as_of`` and store them in that date's partition, replacing its earlier flags."""
    flagged = early_warning(store, risk, as_of, chunk_customers)
    stored = store.scan("scores", as_of).filter(pl.col("score") == SCORE).select(pl.len()).collect().item()
    if flagged.height or stored:
        replace_scores(store, as_of, Owned((SCORE,)), [flagged])
    return flagged


def stored_early_warning(store: OfflineStore, as_of: date | None = None) -> tuple[date | None, pl.DataFrame]:
    """The stored flags of ``as_of`` (default: the latest date with any), worst first."""
    rows = store.scan("scores").filter(pl.col("score") == SCORE)
    day = as_of or rows.select(pl.col("as_of").max()).collect().item()
    if day is None:
        return None, store.read("scores").head(0)
    return day, rows.filter(pl.col("as_of") == day).sort("value", descending=True).collect()
