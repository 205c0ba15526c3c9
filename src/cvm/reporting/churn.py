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

from datetime import date

import polars as pl

from cvm.reporting.churn_sql import data_end_sql, events_sql, flags_sql
from cvm.reporting.periods import (
    Frame,
    PeriodCode,
    lazy,
    money,
    period_code,
    period_index,
    require,
    with_period_columns,
)
from cvm.reporting.queries import run_local

LOUD_TOPICS = ("complaint", "cancellation_request")
CHURN_COLUMNS = ("customer_id", "churned_at", "basis", "reason", "reason_type", "mrr_lost", "revenue_lost")


def data_end(transactions: Frame, subscriptions: Frame) -> date | None:
    """The last date in the data: the latest transaction or contract start, or a contract end up to it.

    Contract ends after that date are scheduled, not yet seen, so they do not move it.
    """
    tables = {"transactions": lazy(transactions).collect(), "subscriptions": lazy(subscriptions).collect()}
    return end_of(run_local(data_end_sql(), tables))


def end_of(row: pl.DataFrame) -> date | None:
    """The last date of the data from the row of :func:`cvm.reporting.churn_sql.data_end_sql`."""
    seen, ended = row["seen"][0], row["ended"][0]
    if not isinstance(seen, date):
        return None
    return max(seen, ended) if isinstance(ended, date) else seen


def churn_events(
    transactions: Frame,
    subscriptions: Frame,
    as_of: date | None = None,
    inactivity_days: int = 365,
) -> pl.DataFrame:
    """One row per churned customer as of ``as_of`` (see the module docstring for the definition).

    The query of :func:`cvm.reporting.churn_sql.events_sql`, on an in-process DuckDB over the frames.

    Returns
    -------
    polars.DataFrame
        ``customer_id, churned_at, basis, reason, reason_type, mrr_lost, revenue_lost``.
    """
    tx, subs = lazy(transactions), lazy(subscriptions)
    require(tx, ("customer_id", "ts", "amount"), "the transactions table")
    require(subs, ("customer_id", "start", "end", "mrr", "end_reason"), "the subscriptions table")
    as_of = as_of or data_end(transactions, subscriptions)
    if as_of is None:
        return _empty_events()
    tables = {"transactions": tx.collect(), "subscriptions": subs.collect()}
    return events_frame(run_local(events_sql(as_of, inactivity_days), tables))


def events_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows of :func:`~cvm.reporting.churn_sql.events_sql` with their money as exact amounts, sorted."""
    typed = rows.cast({"mrr_cents": pl.Int64, "revenue_cents": pl.Int64, "churned_at": pl.Date})
    out = typed.select(
        *CHURN_COLUMNS[:5], mrr_lost=money(pl.col("mrr_cents")), revenue_lost=money(pl.col("revenue_cents"))
    )
    return out.sort("churned_at", "customer_id")


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


def _weighted(events: pl.DataFrame) -> pl.DataFrame:
    """``events`` with ``customers``: 1 per churn event, or the count of a row of churn cells (:func:`cells`)."""
    return events if "customers" in events.columns else events.with_columns(customers=pl.lit(1, pl.Int64))


def _periods(events: pl.DataFrame, code: PeriodCode) -> pl.DataFrame:
    return events if "p" in events.columns else events.with_columns(p=period_index(pl.col("churned_at"), code))


def cells(rows: pl.DataFrame, keys: tuple[str, ...]) -> pl.DataFrame:
    """The rows of :func:`~cvm.reporting.churn_sql.cells_sql` typed, with their money as exact amounts.

    The churn tables (:func:`churn_reasons`, :func:`churn_by_type`, :func:`churn_by_period`,
    :func:`silent_by_period`, :func:`silent_summary`) take these cells as they take one row per churn.
    """
    types: dict[str, type[pl.DataType]] = {"p": pl.Int64, "customers": pl.Int64, "mrr_cents": pl.Int64}
    types["revenue_cents"] = pl.Int64
    types |= {k: pl.Boolean if k == "silent" else pl.Utf8 for k in keys}
    typed = rows.cast(types) if rows.width else pl.DataFrame(schema=types)  # type: ignore[arg-type]
    return typed.select(
        "p", *keys, "customers", mrr_lost=money(pl.col("mrr_cents")), revenue_lost=money(pl.col("revenue_cents"))
    ).sort("p", *keys, nulls_last=True)


def churn_reasons(events: pl.DataFrame, top: int = 5) -> pl.DataFrame:
    """The ``top`` recorded churn reasons: ``rank, reason, reason_type, customers, share, mrr_lost, revenue_lost``.

    ``share`` is the reason's part of the churns that have a recorded reason. ``events`` is one row per churn
    (:func:`churn_events`) or churn cells (:func:`cells`).
    """
    recorded = _weighted(events).filter(pl.col("reason").is_not_null())
    table = recorded.group_by("reason", "reason_type").agg(
        customers=pl.col("customers").sum(),
        mrr_lost=pl.col("mrr_lost").sum(),
        revenue_lost=pl.col("revenue_lost").sum(),
    )
    table = table.sort(["customers", "reason"], descending=[True, False]).head(top)
    return table.select(
        rank=pl.int_range(1, pl.len() + 1),
        reason="reason",
        reason_type="reason_type",
        customers=pl.col("customers").cast(pl.Int64),
        share=pl.col("customers") / max(int(recorded["customers"].sum()), 1),
        mrr_lost="mrr_lost",
        revenue_lost="revenue_lost",
    )


def churn_by_type(events: pl.DataFrame) -> pl.DataFrame:
    """Churned customers and revenue lost by reason type (voluntary, involuntary, unknown), with shares."""
    weighted = _weighted(events)
    total = int(weighted["customers"].sum())
    grid = pl.DataFrame({"reason_type": ["voluntary", "involuntary", "unknown"]})
    per = weighted.group_by("reason_type").agg(
        customers=pl.col("customers").sum(),
        mrr_lost=pl.col("mrr_lost").sum(),
        revenue_lost=pl.col("revenue_lost").sum(),
    )
    table = grid.join(per, on="reason_type", how="left").with_columns(
        pl.col("customers").fill_null(0).cast(pl.Int64),
        pl.col("mrr_lost").fill_null(0).cast(pl.Decimal(38, 2)),
        pl.col("revenue_lost").fill_null(0).cast(pl.Decimal(38, 2)),
    )
    return table.with_columns(share=pl.when(pl.lit(total) > 0).then(pl.col("customers") / total))


def silent_flags(
    events: pl.DataFrame,
    contacts: Frame,
    lookback_days: int = 180,
    loud_topics: tuple[str, ...] = LOUD_TOPICS,
    loud_lookback_days: int | None = None,
) -> pl.DataFrame:
    """``events`` plus ``contacted``, ``loud`` and ``silent`` flags (see the module docstring).

    The query of :func:`cvm.reporting.churn_sql.flags_sql`, on an in-process DuckDB over the frames.
    """
    frame = lazy(contacts)
    require(frame, ("customer_id", "ts", "topic"), "the contacts table")
    tables = {"events": events.select("customer_id", "churned_at"), "contacts": frame.collect()}
    sql = flags_sql("SELECT * FROM events", lookback_days, loud_topics, loud_lookback_days)
    seen = run_local(sql, tables).select("customer_id", "contacted", "loud")
    out = events.join(seen, on="customer_id", how="left").with_columns(
        pl.col("contacted").fill_null(False), pl.col("loud").fill_null(False)
    )
    return out.with_columns(silent=~pl.col("contacted") & ~pl.col("loud"))


def silent_summary(flags: pl.DataFrame) -> dict[str, object]:
    """Counts and shares of silent churn over all churns in ``flags`` (:func:`silent_flags`, or cells)."""
    weighted = _weighted(flags)
    silent = weighted.filter(pl.col("silent"))
    churned, quiet = int(weighted["customers"].sum()), int(silent["customers"].sum())
    lost = weighted["revenue_lost"].sum() if weighted.height else 0
    silent_lost = silent["revenue_lost"].sum() if silent.height else 0
    return {
        "churned": churned,
        "silent": quiet,
        "share_customers": quiet / churned if churned else None,
        "revenue_lost": float(lost),
        "silent_revenue_lost": float(silent_lost),
        "share_revenue": float(silent_lost) / float(lost) if lost else None,
    }


def silent_by_period(flags: pl.DataFrame, period: str = "M") -> pl.DataFrame:
    """Churned and silent customers and revenue lost per period of the churn date."""
    code = period_code(period)
    n = pl.col("customers")
    table = (
        _periods(_weighted(flags), code)
        .group_by("p")
        .agg(
            churned=n.sum().cast(pl.Int64),
            silent=n.filter(pl.col("silent")).sum().cast(pl.Int64),
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
    kind, n = pl.col("reason_type"), pl.col("customers")
    table = (
        _periods(_weighted(events), code)
        .group_by("p")
        .agg(
            churned=n.sum().cast(pl.Int64),
            voluntary=n.filter(kind == "voluntary").sum().cast(pl.Int64),
            involuntary=n.filter(kind == "involuntary").sum().cast(pl.Int64),
            unknown=n.filter(kind == "unknown").sum().cast(pl.Int64),
            mrr_lost=pl.col("mrr_lost").sum(),
            revenue_lost=pl.col("revenue_lost").sum(),
        )
        .sort("p")
    )
    return with_period_columns(table, code).select(
        "period", "period_start", "churned", "voluntary", "involuntary", "unknown", "mrr_lost", "revenue_lost"
    )
