"""A pilot's outcomes per assigned customer, from the hub tables.

For a customer assigned at t₀ and an outcome window of W days, the window is (t₀, t₀ + W]
and the pre-period (the CUPED covariate) is (t₀ − W, t₀]. Per window:

- **revenue**: transaction amounts in the window plus recurring revenue, MRR × (days of the
  window a subscription was live) / 30.44;
- **margin**: transaction margins plus recurring revenue × ``margin_rate`` (subscriptions carry
  no margin of their own);
- **retention** (not churned): 1 when the customer is still active at the window's end: a
  subscription live at t₀ + W, or a purchase (positive amount) within the window;
- **conversion** (adopted the product): 1 when the customer bought ``product`` or started a
  subscription to it within the window (any purchase when no product is named);
- **nps**: the mean 0–10 answer of the surveys within the window (missing when none; the test
  then covers the customers who answered).

``mature`` is true when the window has ended by ``as_of``: reports analyse mature customers only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from cvm.store import OfflineStore

OUTCOMES = ("revenue", "margin", "retention", "conversion", "nps")
DAYS_PER_MONTH = 30.44
SEGMENT_COLUMNS = ("kind", "region", "sector", "channel")


def _windowed(frame: pl.LazyFrame, ts: str, lo_days: int, hi_days: int) -> pl.LazyFrame:
    """Rows whose ``ts`` lies in (t₀ + lo, t₀ + hi] days of their customer's assignment."""
    at = pl.col(ts).cast(pl.Datetime("us", "UTC"))
    return frame.filter(
        (at > pl.col("assigned_at") + pl.duration(days=lo_days))
        & (at <= pl.col("assigned_at") + pl.duration(days=hi_days))
    )


def _transactions(tx: pl.LazyFrame, product: str | None, lo: int, hi: int, key: str) -> pl.LazyFrame:
    bought = pl.col("amount") > 0
    adopted = bought if product is None else bought & (pl.col("product") == product)
    return (
        _windowed(tx, "ts", lo, hi)
        .group_by(key)
        .agg(
            pl.col("amount").sum().alias("tx_revenue"),
            pl.col("margin").fill_null(0.0).sum().alias("tx_margin"),
            bought.any().alias("bought"),
            adopted.any().alias("adopted"),
        )
    )


def _subscriptions(subs: pl.LazyFrame, product: str | None, lo: int, hi: int, key: str) -> pl.LazyFrame:
    w_lo = (pl.col("assigned_at") + pl.duration(days=lo)).dt.date()
    w_hi = (pl.col("assigned_at") + pl.duration(days=hi)).dt.date()
    end = pl.col("end").fill_null(pl.date(9999, 12, 31))
    overlap = (pl.min_horizontal(end, w_hi) - pl.max_horizontal(pl.col("start"), w_lo)).dt.total_days().clip(0)
    live_at_end = (pl.col("start") <= w_hi) & (end > w_hi)
    started = (pl.col("start") > w_lo) & (pl.col("start") <= w_hi)
    adopted = started if product is None else started & (pl.col("product") == product)
    return subs.group_by(key).agg(
        (pl.col("mrr") * overlap / DAYS_PER_MONTH).sum().alias("recurring"),
        live_at_end.any().alias("live_at_end"),
        adopted.any().alias("sub_adopted"),
    )


def _surveys(surveys: pl.LazyFrame, lo: int, hi: int, key: str) -> pl.LazyFrame:
    return _windowed(surveys, "ts", lo, hi).group_by(key).agg(pl.col("nps").cast(pl.Float64).mean())


def _window(store: OfflineStore, asg: pl.LazyFrame, product: str | None, margin_rate: float, lo: int, hi: int,
            prefix: str, key: str = "customer_id") -> pl.LazyFrame:  # fmt: skip
    """Outcomes of each row of ``asg`` (one per ``key``: a customer, or a decision of the decision log)."""
    keys = asg.select(*dict.fromkeys(("customer_id", "assigned_at", key)))
    tx = keys.join(store.scan("transactions"), on="customer_id")
    subs = keys.join(store.scan("subscriptions"), on="customer_id")
    surveys = keys.join(store.scan("surveys"), on="customer_id")
    parts = (
        _transactions(tx, product, lo, hi, key),
        _subscriptions(subs, product, lo, hi, key),
        _surveys(surveys, lo, hi, key),
    )
    out = keys.select(key)
    for part in parts:
        out = out.join(part, on=key, how="left")
    recurring = pl.col("recurring").fill_null(0.0)

    def either(a: str, b: str) -> pl.Expr:
        return (pl.col(a).fill_null(False) | pl.col(b).fill_null(False)).cast(pl.Float64)

    return out.select(
        key,
        (pl.col("tx_revenue").fill_null(0.0) + recurring).alias(f"{prefix}revenue"),
        (pl.col("tx_margin").fill_null(0.0) + recurring * margin_rate).alias(f"{prefix}margin"),
        either("bought", "live_at_end").alias(f"{prefix}retention"),
        either("adopted", "sub_adopted").alias(f"{prefix}conversion"),
        pl.col("nps").alias(f"{prefix}nps"),
    )


def pilot_outcomes(
    store: OfflineStore,
    assignments: pl.DataFrame,
    window_days: int,
    as_of: datetime,
    product: str | None = None,
    margin_rate: float = 0.3,
) -> pl.DataFrame:
    """Outcomes and pre-period covariates of each assigned customer, with their segment columns.

    Parameters
    ----------
    store
        The offline store (hub tables ``transactions``, ``subscriptions``, ``surveys``, ``customers``).
    assignments
        ``customer_id``, ``arm``, ``assigned_at`` (UTC) of one experiment.
    window_days
        Outcome window W.
    as_of
        Now: customers whose window ends after it are not ``mature``.
    product
        Conversion means adopting this product (any purchase when ``None``).
    margin_rate
        Margin of recurring revenue.
    """
    asg = assignments.lazy().select("customer_id", "arm", pl.col("assigned_at").cast(pl.Datetime("us", "UTC")))
    post = _window(store, asg, product, margin_rate, 0, window_days, "")
    pre = _window(store, asg, product, margin_rate, -window_days, 0, "pre_")
    segs = store.scan("customers").select("customer_id", *SEGMENT_COLUMNS)
    horizon = as_of - timedelta(days=window_days)
    return (
        asg.join(post, on="customer_id", how="left")
        .join(pre, on="customer_id", how="left")
        .join(segs, on="customer_id", how="left")
        .with_columns((pl.col("assigned_at") <= horizon).alias("mature"))
        .sort("customer_id")
        .collect()
    )
