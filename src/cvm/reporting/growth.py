"""Growth accounting: the revenue (or MRR) bridge between consecutive periods.

Definitions (the rules chosen where the usual definition is silent are marked *):

* Revenue of a customer in a period is the net of its amounts in that period, in exact cents.
  *A negative net (refunds and credit notes above the period's purchases) counts as zero revenue;
  the negative remainder is reported per period as ``negative_net`` (always <= 0), so the booked
  net revenue of a period is ``end + negative_net``. The bridge itself runs on non-negative revenue.*
* A customer is active in a period when its revenue there is above zero.
* **new**: the first active period ever. *A customer whose first period nets to zero (a purchase
  fully refunded) is not new there; it becomes new in its first period with revenue.*
* **expansion / contraction**: active in this and the previous period, revenue up / down.
* **churned**: active in the previous period, not in this one; the amount is the previous revenue.
  *A customer active only in period p is new in p and churned in p + 1.*
* **reactivation**: active after one or more inactive periods, having been active before. *With
  ``reactivation_window`` (an int: periods; a ``timedelta``: days from the churn, i.e. from the start
  of the first inactive period, to the start of the returning period), a return after a longer gap
  counts as new (revenue and customer count) instead of reactivation.*
* Identity, exact to the cent in every period (checked before returning):
  ``end = start + new + expansion + reactivation - contraction - churned``.
* Customer counts: ``customers_active = customers_new + customers_retained + customers_resurrected``
  and ``customers_churned(t) = customers_active(t-1) - customers_retained(t)``.
* *Periods run from the first to the last period that holds any amount, with empty periods included;
  the first period starts at 0. The last period may be incomplete.*
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from cvm.errors import BadValueError, InternalError
from cvm.reporting.bridge import FLOWS, bridge_sql
from cvm.reporting.periods import (
    MONEY,
    Frame,
    PeriodCode,
    lazy,
    money,
    period_code,
    period_start,
    require,
    with_period_columns,
)
from cvm.reporting.queries import Runner, mrr_net_sql, net_sql, net_table, run_local

MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churned")
MONEY_COLUMNS = ("start", *MOVEMENTS, "end", "negative_net")
COUNT_COLUMNS = (
    "customers_active",
    "customers_new",
    "customers_retained",
    "customers_resurrected",
    "customers_churned",
)
GROWTH_COLUMNS = ("period", "period_start", *MONEY_COLUMNS, *COUNT_COLUMNS)


class IdentityError(InternalError, AssertionError):
    """The growth-accounting identity failed: a bug, never a data problem."""


def _check_identity(table: pl.DataFrame) -> None:
    c = pl.col
    bridge = c("start") + c("new") + c("expansion") + c("reactivation") - c("contraction") - c("churned")
    counts = c("customers_new") + c("customers_retained") + c("customers_resurrected")
    lost = c("customers_active").shift(1, fill_value=0) - c("customers_retained")
    bad = table.filter((bridge != c("end")) | (counts != c("customers_active")) | (lost != c("customers_churned")))
    if bad.height:
        raise IdentityError(f"growth accounting identity broken in periods {bad['p'].to_list()}")


def bridge_table(
    run: Runner, net: str, code: PeriodCode, reactivation_window: int | timedelta | None = None, new_periods: int = 1
) -> pl.DataFrame:
    """The bridge and the hunting/farming split in integer cents per period ``p``, every period included.

    ``net`` is the relation of net cents per (customer, period) that ``run`` reads (:mod:`cvm.reporting.bridge`);
    the identities are checked before returning.
    """
    if new_periods < 1:
        raise BadValueError(f"new_periods must be at least 1, got {new_periods}")
    rows = run(bridge_sql(net, code, reactivation_window, new_periods))
    schema = {"p": pl.Int64, **dict.fromkeys(FLOWS, pl.Int64)}
    if rows.height == 0:
        return pl.DataFrame(schema={**schema, "start": pl.Int64})
    rows = rows.cast(schema)  # type: ignore[arg-type]
    lo, hi = int(rows["p"].min()), int(rows["p"].max())  # type: ignore[arg-type]
    grid = pl.DataFrame({"p": pl.int_range(lo, hi + 1, eager=True)}).cast(pl.Int64)
    table = grid.join(rows, on="p", how="left").fill_null(0).sort("p")
    table = table.with_columns(start=pl.col("end").shift(1, fill_value=0))
    _check_identity(table)
    return table


def growth_from_bridge(table: pl.DataFrame, code: PeriodCode) -> pl.DataFrame:
    """The growth-accounting rows (money as exact decimals, period labels) of a :func:`bridge_table`."""
    table = table.with_columns(money(pl.col(c)).alias(c) for c in MONEY_COLUMNS)
    return with_period_columns(table, code).select(GROWTH_COLUMNS)


def hunting_from_bridge(table: pl.DataFrame, code: PeriodCode) -> pl.DataFrame:
    """The hunting vs farming rows of a :func:`bridge_table`."""
    h, f = pl.col("hunting"), pl.col("farming")
    table = table.with_columns(hunting_share=pl.when(h + f > 0).then(h / (h + f)), hunting=money(h), farming=money(f))
    return with_period_columns(table, code).select("period", "period_start", "hunting", "farming", "hunting_share")


def _local_bridge(
    revenue: Frame, code: PeriodCode, cols: tuple[str, str, str], window: int | timedelta | None, new_periods: int
) -> pl.DataFrame:
    """:func:`bridge_table` of a revenue frame, on an in-process DuckDB."""
    frame = lazy(revenue)
    require(frame, cols, "the revenue frame")
    rows = frame.select(customer_id=pl.col(cols[0]), ts=pl.col(cols[1]), amount=pl.col(cols[2])).collect()
    net = net_sql(code, None, table="revenue")
    return bridge_table(lambda sql: run_local(sql, {"revenue": rows}), net, code, window, new_periods)


def growth_accounting(
    revenue: Frame,
    period: str = "M",
    customer_col: str = "customer_id",
    ts_col: str = "ts",
    amount_col: str = "amount",
    reactivation_window: int | timedelta | None = None,
) -> pl.DataFrame:
    """Revenue bridge per period: start, new, expansion, reactivation, contraction, churned, end.

    Parameters
    ----------
    revenue
        One row per transaction (``customer_col``, ``ts_col``, ``amount_col``; negative amounts are
        refunds), or per-period MRR rows from :func:`mrr_by_period`.
    period
        ``"M"``, ``"Q"`` or ``"Y"`` (or month, quarter, year).
    reactivation_window
        A return after more than this many inactive periods (int) or days (``timedelta``) counts as
        new instead of reactivation; ``None`` never does.

    Returns
    -------
    polars.DataFrame
        One row per period (``period`` label, ``period_start``), money columns as exact
        ``Decimal(38, 2)`` and customer counts; see the module docstring for the rules.

    Examples
    --------
    >>> from datetime import date
    >>> tx = pl.DataFrame({"customer_id": ["a", "a", "b"], "ts": [date(2024, 1, 5), date(2024, 2, 5),
    ...     date(2024, 2, 9)], "amount": [100.0, 80.0, 30.0]})
    >>> g = growth_accounting(tx, "M").select("period", "start", "new", "contraction", "end")
    >>> [str(v) for v in g.row(1)]
    ['2024-02', '100.00', '30.00', '20.00', '110.00']
    """
    code = period_code(period)
    table = _local_bridge(revenue, code, (customer_col, ts_col, amount_col), reactivation_window, 1)
    return growth_from_bridge(table, code)


def hunting_farming(
    revenue: Frame,
    period: str = "M",
    customer_col: str = "customer_id",
    ts_col: str = "ts",
    amount_col: str = "amount",
    new_periods: int = 1,
) -> pl.DataFrame:
    """Split each period's revenue into hunting (new customers) and farming (existing customers).

    A customer counts for hunting in its first ``new_periods`` periods from its first period with
    revenue (the growth-accounting cohort), for farming after. Revenue is the same non-negative
    per-customer revenue as in :func:`growth_accounting`, so ``hunting + farming = end``.
    """
    code = period_code(period)
    return hunting_from_bridge(
        _local_bridge(revenue, code, (customer_col, ts_col, amount_col), None, new_periods), code
    )


def mrr_by_period(
    subscriptions: Frame,
    period: str = "M",
    as_of: date | None = None,
    customer_col: str = "customer_id",
) -> pl.DataFrame:
    """Expand subscriptions into per-period MRR rows for :func:`growth_accounting`.

    The MRR of a customer in a period is the sum of ``mrr`` over its subscriptions live at the end
    of the period (``start <= day < end``, ``end`` exclusive, null = open), the day being the period's
    last day, or ``as_of`` for the period holding it. A subscription that starts and ends inside one
    period never shows. ``as_of`` defaults to the latest start or end date in the table: pass it when
    the table holds scheduled (future) ends.

    Returns
    -------
    polars.DataFrame
        ``customer_id, ts, amount``: ``ts`` is the period's first day and ``amount`` the MRR, so the
        result plugs into ``growth_accounting(rows, period)`` with the default column names.
    """
    code = period_code(period)
    subs = lazy(subscriptions)
    require(subs, (customer_col, "start", "end", "mrr"), "the subscriptions frame")
    if as_of is None:
        as_of = subs.select(pl.max_horizontal(pl.col("start").max(), pl.col("end").max())).collect().item()
        if as_of is None:
            return pl.DataFrame(schema={"customer_id": pl.Utf8, "ts": pl.Date, "amount": MONEY})
    rows = subs.select(customer_id=pl.col(customer_col), start="start", end="end", mrr="mrr").collect()
    net = net_table(lambda sql: run_local(sql, {"subs": rows}), mrr_net_sql(code, as_of, table="subs"))
    return net.select(customer_id="customer", ts=period_start(pl.col("p"), code), amount=money(pl.col("net")))
