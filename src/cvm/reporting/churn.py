"""Customer churn events, churn reasons and silent churn.

**Churn** (as of a date, the end of the data by default): a customer with no live subscription
(``start <= as_of < end``, null ``end`` = open) is churned

* at its last contract end (basis ``contract``) when it had subscriptions, all have ended and it
  bought nothing after the last one ended; the churn is known at once;
* else at its last purchase (basis ``inactivity``) when that is more than ``inactivity_days``
  (default 365) before ``as_of``.

A purchase is a transaction with a positive amount. ``mrr_lost`` is the MRR of the contracts that
ended on the churn date; ``revenue_lost`` is the annualised revenue lost: ``12 * mrr_lost`` plus the
net transaction revenue (never below zero) in the 365 days up to the churn date.

**Reasons** come from ``subscriptions.end_reason`` of the contracts that ended on the churn date (the
most frequent, then alphabetical); they are voluntary or involuntary as listed in
:mod:`cvm.contracts.tables`. An inactivity churn has no recorded reason (type ``unknown``).

**Silent churn**: a churn with no contact of any kind in the ``lookback_days`` (default 180) up to and
including the churn date, and no complaint or cancellation request before it (at any time, or within
``loud_lookback_days`` when given). This matches the demo company's ground truth.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from cvm.contracts.tables import INVOLUNTARY_REASONS, VOLUNTARY_REASONS
from cvm.reporting.periods import (
    Frame,
    lazy,
    money,
    period_code,
    period_index,
    require,
    to_cents,
    with_period_columns,
)

LOUD_TOPICS = ("complaint", "cancellation_request")
CHURN_COLUMNS = ("customer_id", "churned_at", "basis", "reason", "reason_type", "mrr_lost", "revenue_lost")


def reason_type(reason: pl.Expr) -> pl.Expr:
    """``voluntary``, ``involuntary`` or ``unknown`` for an ``end_reason``."""
    return (
        pl.when(reason.is_in(list(VOLUNTARY_REASONS)))
        .then(pl.lit("voluntary"))
        .when(reason.is_in(list(INVOLUNTARY_REASONS)))
        .then(pl.lit("involuntary"))
        .otherwise(pl.lit("unknown"))
    )


def data_end(transactions: Frame, subscriptions: Frame) -> date | None:
    """The last date in the data: the latest transaction or contract start, or a contract end up to it.

    Contract ends after that date are scheduled, not yet seen, so they do not move it.
    """
    tx = lazy(transactions).select(pl.col("ts").max().dt.date().alias("d"))
    subs = lazy(subscriptions)
    starts = subs.select(pl.col("start").max().alias("d"))
    seen = pl.concat([tx, starts]).select(pl.col("d").max()).collect().item()
    if not isinstance(seen, date):
        return None
    end = subs.filter(pl.col("end") <= seen).select(pl.col("end").max()).collect().item()
    return max(seen, end) if isinstance(end, date) else seen


def _contracts(subscriptions: Frame, as_of: date) -> pl.LazyFrame:
    """Per customer with a contract started by ``as_of``: live flag, last end, MRR and reason at it."""
    subs = lazy(subscriptions).filter(pl.col("start") <= as_of)
    ended = pl.col("end").is_not_null() & (pl.col("end") <= as_of)
    per = subs.group_by("customer_id").agg(live=(~ended).any(), last_end=pl.col("end").filter(ended).max())
    at_end = subs.join(per, on="customer_id").filter(pl.col("end") == pl.col("last_end"))
    schema = subs.collect_schema()
    reasons = (
        at_end.filter(pl.col("end_reason").is_not_null())
        .group_by("customer_id", "end_reason")
        .len()
        .sort(["customer_id", "len", "end_reason"], descending=[False, True, False])
        .group_by("customer_id", maintain_order=True)
        .first()
        .select("customer_id", reason="end_reason")
    )
    mrr = at_end.group_by("customer_id").agg(mrr_cents=to_cents(pl.col("mrr"), schema["mrr"]).sum())
    return per.join(mrr, on="customer_id", how="left").join(reasons, on="customer_id", how="left")


def churn_events(
    transactions: Frame,
    subscriptions: Frame,
    as_of: date | None = None,
    inactivity_days: int = 365,
) -> pl.DataFrame:
    """One row per churned customer as of ``as_of`` (see the module docstring for the definition).

    Returns
    -------
    polars.DataFrame
        ``customer_id, churned_at, basis, reason, reason_type, mrr_lost, revenue_lost``.
    """
    tx = lazy(transactions)
    require(tx, ("customer_id", "ts", "amount"), "the transactions table")
    require(lazy(subscriptions), ("customer_id", "start", "end", "mrr", "end_reason"), "the subscriptions table")
    as_of = as_of or data_end(transactions, subscriptions)
    if as_of is None:
        return _empty_events()
    tx = tx.with_columns(d=pl.col("ts").dt.date()).filter(pl.col("d") <= as_of)
    last_buy = tx.filter(pl.col("amount") > 0).group_by("customer_id").agg(last_tx=pl.col("d").max())
    both = last_buy.join(_contracts(subscriptions, as_of), on="customer_id", how="full", coalesce=True)
    live = pl.col("live").fill_null(False)
    contract = (
        ~live
        & pl.col("last_end").is_not_null()
        & (pl.col("last_tx").is_null() | (pl.col("last_tx") <= pl.col("last_end")))
    )
    inactive = ~live & ~contract & (pl.col("last_tx") < as_of - timedelta(days=inactivity_days))
    events = both.filter(contract | inactive).select(
        "customer_id",
        churned_at=pl.when(contract).then(pl.col("last_end")).otherwise(pl.col("last_tx")),
        basis=pl.when(contract).then(pl.lit("contract")).otherwise(pl.lit("inactivity")),
        reason=pl.when(contract).then(pl.col("reason")),
        mrr_cents=pl.when(contract).then(pl.col("mrr_cents")).otherwise(0).fill_null(0),
    )
    schema = tx.collect_schema()
    trailing = (
        tx.join(events.select("customer_id", "churned_at"), on="customer_id")
        .filter((pl.col("d") <= pl.col("churned_at")) & (pl.col("d") > pl.col("churned_at") - timedelta(days=365)))
        .group_by("customer_id")
        .agg(tx_cents=to_cents(pl.col("amount"), schema["amount"]).sum())
    )
    out = events.join(trailing, on="customer_id", how="left").with_columns(
        tx_cents=pl.col("tx_cents").fill_null(0).clip(lower_bound=0)
    )
    return (
        out.select(
            "customer_id",
            "churned_at",
            "basis",
            "reason",
            reason_type=reason_type(pl.col("reason")),
            mrr_lost=money(pl.col("mrr_cents")),
            revenue_lost=money(12 * pl.col("mrr_cents") + pl.col("tx_cents")),
        )
        .sort("churned_at", "customer_id")
        .collect()
    )


def _empty_events() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "customer_id": pl.Utf8,
            "churned_at": pl.Date,
            "basis": pl.Utf8,
            "reason": pl.Utf8,
            "reason_type": pl.Utf8,
            "mrr_lost": pl.Decimal(38, 2),
            "revenue_lost": pl.Decimal(38, 2),
        }
    )


def churn_reasons(events: pl.DataFrame, top: int = 5) -> pl.DataFrame:
    """The ``top`` recorded churn reasons: ``rank, reason, reason_type, customers, share, mrr_lost, revenue_lost``.

    ``share`` is the reason's part of the churns that have a recorded reason.
    """
    recorded = events.filter(pl.col("reason").is_not_null())
    table = recorded.group_by("reason", "reason_type").agg(
        customers=pl.len(), mrr_lost=pl.col("mrr_lost").sum(), revenue_lost=pl.col("revenue_lost").sum()
    )
    table = table.sort(["customers", "reason"], descending=[True, False]).head(top)
    return table.select(
        rank=pl.int_range(1, pl.len() + 1),
        reason="reason",
        reason_type="reason_type",
        customers=pl.col("customers").cast(pl.Int64),
        share=pl.col("customers") / max(recorded.height, 1),
        mrr_lost="mrr_lost",
        revenue_lost="revenue_lost",
    )


def churn_by_type(events: pl.DataFrame) -> pl.DataFrame:
    """Churned customers and revenue lost by reason type (voluntary, involuntary, unknown), with shares."""
    grid = pl.DataFrame({"reason_type": ["voluntary", "involuntary", "unknown"]})
    per = events.group_by("reason_type").agg(
        customers=pl.len(), mrr_lost=pl.col("mrr_lost").sum(), revenue_lost=pl.col("revenue_lost").sum()
    )
    table = grid.join(per, on="reason_type", how="left").with_columns(
        pl.col("customers").fill_null(0).cast(pl.Int64),
        pl.col("mrr_lost").fill_null(0).cast(pl.Decimal(38, 2)),
        pl.col("revenue_lost").fill_null(0).cast(pl.Decimal(38, 2)),
    )
    return table.with_columns(share=pl.when(pl.lit(events.height) > 0).then(pl.col("customers") / events.height))


def silent_flags(
    events: pl.DataFrame,
    contacts: Frame,
    lookback_days: int = 180,
    loud_topics: tuple[str, ...] = LOUD_TOPICS,
    loud_lookback_days: int | None = None,
) -> pl.DataFrame:
    """``events`` plus ``contacted``, ``loud`` and ``silent`` flags (see the module docstring)."""
    frame = lazy(contacts)
    require(frame, ("customer_id", "ts", "topic"), "the contacts table")
    near = (pl.col("d") <= pl.col("churned_at")) & (pl.col("d") >= pl.col("churned_at") - timedelta(days=lookback_days))
    loud = pl.col("topic").is_in(list(loud_topics)) & (pl.col("d") <= pl.col("churned_at"))
    if loud_lookback_days is not None:
        loud = loud & (pl.col("d") >= pl.col("churned_at") - timedelta(days=loud_lookback_days))
    seen = (
        frame.select("customer_id", "topic", d=pl.col("ts").dt.date())
        .join(events.lazy().select("customer_id", "churned_at"), on="customer_id")
        .group_by("customer_id")
        .agg(contacted=near.any(), loud=loud.any())
        .collect()
    )
    out = events.join(seen, on="customer_id", how="left").with_columns(
        pl.col("contacted").fill_null(False), pl.col("loud").fill_null(False)
    )
    return out.with_columns(silent=~pl.col("contacted") & ~pl.col("loud"))


def silent_summary(flags: pl.DataFrame) -> dict[str, object]:
    """Counts and shares of silent churn over all churns in ``flags`` (from :func:`silent_flags`)."""
    silent = flags.filter(pl.col("silent"))
    lost = flags["revenue_lost"].sum() if flags.height else 0
    silent_lost = silent["revenue_lost"].sum() if silent.height else 0
    return {
        "churned": flags.height,
        "silent": silent.height,
        "share_customers": silent.height / flags.height if flags.height else None,
        "revenue_lost": float(lost),
        "silent_revenue_lost": float(silent_lost),
        "share_revenue": float(silent_lost) / float(lost) if lost else None,
    }


def silent_by_period(flags: pl.DataFrame, period: str = "M") -> pl.DataFrame:
    """Churned and silent customers and revenue lost per period of the churn date."""
    code = period_code(period)
    table = (
        flags.with_columns(p=period_index(pl.col("churned_at"), code))
        .group_by("p")
        .agg(
            churned=pl.len().cast(pl.Int64),
            silent=pl.col("silent").sum().cast(pl.Int64),
            revenue_lost=pl.col("revenue_lost").sum(),
            silent_revenue_lost=pl.col("revenue_lost").filter(pl.col("silent")).sum(),
        )
        .sort("p")
        .with_columns(
            share_customers=pl.col("silent") / pl.col("churned"),
            share_revenue=pl.when(pl.col("revenue_lost") > 0).then(
                pl.col("silent_revenue_lost").cast(pl.Float64) / pl.col("revenue_lost").cast(pl.Float64)
            ),
        )
    )
    return with_period_columns(table, code).select(
        "period",
        "period_start",
        "churned",
        "silent",
        "share_customers",
        "revenue_lost",
        "silent_revenue_lost",
        "share_revenue",
    )


def churn_by_period(events: pl.DataFrame, period: str = "M") -> pl.DataFrame:
    """Churned customers per period of the churn date, by reason type, with the revenue lost."""
    code = period_code(period)
    kind = pl.col("reason_type")
    table = (
        events.with_columns(p=period_index(pl.col("churned_at"), code))
        .group_by("p")
        .agg(
            churned=pl.len().cast(pl.Int64),
            voluntary=(kind == "voluntary").sum().cast(pl.Int64),
            involuntary=(kind == "involuntary").sum().cast(pl.Int64),
            unknown=(kind == "unknown").sum().cast(pl.Int64),
            mrr_lost=pl.col("mrr_lost").sum(),
            revenue_lost=pl.col("revenue_lost").sum(),
        )
        .sort("p")
    )
    return with_period_columns(table, code).select(
        "period", "period_start", "churned", "voluntary", "involuntary", "unknown", "mrr_lost", "revenue_lost"
    )
