"""Point-in-time inputs of the scores: the hub as it was known at the end of the ``as_of`` day.

Nothing after ``as_of`` is read: transactions up to the end of that day (UTC), customers
acquired by then, and subscriptions started by then. A subscription ``end`` after ``as_of``
was not known yet, so it is read as open. Contacts of the last 365 days and invoices due by
``as_of`` (a payment after ``as_of`` was not known: the invoice reads as unpaid) feed the cost to serve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from cvm.store import OfflineStore
from cvm.store.chunks import ALL, Range, scan

DAYS_PER_MONTH = 365.25 / 12
WINDOW_DAYS = 365  # the "12 months" of the net margin (cvm.scoring.cost_to_serve)
CONTACT_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Utf8(),
    "ts": pl.Datetime("us", "UTC"),
    "channel": pl.Utf8(),
    "topic": pl.Utf8(),
}
PAYMENT_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Utf8(),
    "due_date": pl.Date(),
    "paid_date": pl.Date(),
    "amount": pl.Float64(),
}


@dataclass(frozen=True)
class PointInTime:
    """The hub's tables as of the end of ``as_of``."""

    as_of: date
    customers: pl.DataFrame
    transactions: pl.DataFrame
    subscriptions: pl.DataFrame
    contacts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CONTACT_SCHEMA))
    payments: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PAYMENT_SCHEMA))

    @property
    def cutoff(self) -> datetime:
        """First instant after ``as_of`` (exclusive bound on timestamps)."""
        return end_of_day(self.as_of)


def end_of_day(day: date) -> datetime:
    """Midnight UTC after ``day``."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def load_point_in_time(store: OfflineStore, as_of: date, chunk: Range = ALL) -> PointInTime:
    """Read what the hub knew at the end of ``as_of`` about the customers of ``chunk`` (default: all),
    customers sorted by id."""
    cutoff = end_of_day(as_of)
    customers = (
        scan(store, "customers", chunk)
        .filter(pl.col("acquired_at") <= as_of)
        .select("customer_id", "kind", "acquired_at")
        .sort("customer_id")
        .collect()
    )
    transactions = (
        scan(store, "transactions", chunk)
        .filter(pl.col("ts") < cutoff)
        .select("customer_id", "ts", "amount", "margin")
        .collect()
    )
    subscriptions = (
        scan(store, "subscriptions", chunk)
        .filter(pl.col("start") <= as_of)
        .with_columns(pl.when(pl.col("end") <= as_of).then(pl.col("end")).otherwise(None).alias("end"))
        .select("customer_id", "product", "start", "end", "mrr")
        .collect()
    )
    since = as_of - timedelta(days=WINDOW_DAYS)
    contacts = (
        scan(store, "contacts", chunk)
        .filter(pl.col("ts") < cutoff, pl.col("ts") >= end_of_day(since))
        .select(*CONTACT_SCHEMA)
        .collect()
    )
    payments = scan(store, "payments", chunk).filter(pl.col("due_date") <= as_of).select(*PAYMENT_SCHEMA).collect()
    return PointInTime(as_of, customers, transactions, subscriptions, contacts, payments)


def history(pit: PointInTime, margin_rate: float) -> pl.DataFrame:
    """Per customer: revenue and margin to date, purchases, first and last purchase, margin ratio.

    Refunds (amount <= 0) count in revenue and margin but are not purchases. A missing margin
    is taken as ``amount * margin_rate``. ``margin_ratio`` is margin / revenue of the customer's
    purchases with a recorded margin, clipped to [0, 1]; null when there is none.
    """
    tx = pit.transactions
    recorded = pl.col("margin").is_not_null() & (pl.col("amount") > 0)
    return tx.group_by("customer_id").agg(
        pl.col("amount").sum().alias("revenue"),
        pl.col("margin").fill_null(pl.col("amount") * margin_rate).sum().alias("margin"),
        (pl.col("amount") > 0).sum().alias("purchases"),
        pl.col("ts").filter(pl.col("amount") > 0).min().alias("first_purchase"),
        pl.col("ts").filter(pl.col("amount") > 0).max().alias("last_purchase"),
        (pl.col("margin").filter(recorded).sum() / pl.col("amount").filter(recorded).sum())
        .clip(0.0, 1.0)
        .alias("margin_ratio"),
    )


def purchases(pit: PointInTime) -> pl.DataFrame:
    """Purchases (amount > 0) as ``customer_id, ts, amount``, for the RFM summary."""
    return pit.transactions.filter(pl.col("amount") > 0).select("customer_id", "ts", "amount")


def contract_base(pit: PointInTime) -> pl.DataFrame:
    """Per subscriber: tenure in months, churned flag and the MRR live at ``as_of``.

    Tenure runs from the first start to the last end (churned: every subscription ended) or to
    ``as_of`` (active). Months are ``365.25 / 12`` days.
    """
    subs = pit.subscriptions
    if subs.height == 0:
        return pl.DataFrame(
            schema={"customer_id": pl.Utf8, "tenure_months": pl.Float64, "churned": pl.Boolean, "mrr": pl.Float64}
        )
    live = pl.col("end").is_null()
    return (
        subs.group_by("customer_id")
        .agg(
            pl.col("start").min().alias("first_start"),
            live.any().alias("active"),
            pl.col("end").max().alias("last_end"),
            pl.col("mrr").filter(live).sum().alias("mrr"),
        )
        .with_columns(
            (~pl.col("active")).alias("churned"),
            (
                (
                    pl.when(pl.col("active")).then(pl.lit(pit.as_of)).otherwise(pl.col("last_end"))
                    - pl.col("first_start")
                )
                .dt.total_days()
                .cast(pl.Float64)
                / DAYS_PER_MONTH
            ).alias("tenure_months"),
        )
        .select("customer_id", "tenure_months", "churned", "mrr")
        .sort("customer_id")
    )
