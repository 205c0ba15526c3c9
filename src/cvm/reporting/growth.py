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
from cvm.reporting.queries import mrr_net_sql, net_sql, net_table, run_local

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


def net_by_period(revenue: Frame, code: PeriodCode, customer_col: str, ts_col: str, amount_col: str) -> pl.DataFrame:
    """Net cents per (customer, period index), sorted by both: columns ``customer, p, net``.

    The query every backend runs on the stored transactions (:func:`cvm.reporting.queries.net_sql`), here on
    an in-process DuckDB over ``revenue``.
    """
    frame = lazy(revenue)
    require(frame, (customer_col, ts_col, amount_col), "the revenue frame")
    rows = frame.select(customer_id=pl.col(customer_col), ts=pl.col(ts_col), amount=pl.col(amount_col)).collect()
    return net_table(lambda sql: run_local(sql, {"revenue": rows}), net_sql(code, None, table="revenue"))


def first_period() -> pl.Expr:
    """Each customer's first period in rows sorted by customer and period (as :func:`net_by_period` gives)."""
    starts = pl.col("customer") != pl.col("customer").shift(1)
    return pl.when(starts.fill_null(True)).then(pl.col("p")).forward_fill()


def classify(net: pl.DataFrame, code: PeriodCode, window: int | timedelta | None) -> pl.DataFrame:
    """One row per active (customer, period): revenue ``r``, previous revenue ``r0`` and its ``kind``.

    ``net`` comes from :func:`net_by_period` (sorted by customer and period). ``kind`` is new,
    reactivation or retained; ``churn_p`` is the period in which the customer churns next (null while
    it stays active).
    """
    active = net.filter(pl.col("net") > 0).select("customer", "p", r=pl.col("net"))
    same_prev = pl.col("customer") == pl.col("customer").shift(1)
    same_next = pl.col("customer") == pl.col("customer").shift(-1)
    prev_p = pl.when(same_prev).then(pl.col("p").shift(1))
    next_p = pl.when(same_next).then(pl.col("p").shift(-1))
    out = active.with_columns(prev_p=prev_p, next_p=next_p, r_prev=pl.col("r").shift(1))
    gap = pl.col("p") - pl.col("prev_p") - 1
    if window is None:
        too_long = pl.lit(False)
    elif isinstance(window, timedelta):
        days = (period_start(pl.col("p"), code) - period_start(pl.col("prev_p") + 1, code)).dt.total_days()
        too_long = days > window.days
    else:
        too_long = gap > int(window)
    kind = (
        pl.when(pl.col("prev_p").is_null() | ((gap > 0) & too_long))
        .then(pl.lit("new"))
        .when(gap > 0)
        .then(pl.lit("reactivation"))
        .otherwise(pl.lit("retained"))
    )
    churn_p = pl.when(pl.col("next_p").is_null() | (pl.col("next_p") > pl.col("p") + 1)).then(pl.col("p") + 1)
    return out.with_columns(
        kind=kind,
        r0=pl.when(gap == 0).then(pl.col("r_prev")).otherwise(0),
        churn_p=churn_p,
    ).drop("r_prev", "next_p")


def period_grid(net: pl.DataFrame) -> pl.DataFrame:
    """Every period index ``p`` from the first to the last in ``net`` (empty periods included)."""
    bounds = net.select(lo=pl.col("p").min(), hi=pl.col("p").max() + 1)
    return bounds.select(p=pl.int_ranges("lo", "hi")).explode("p").drop_nulls().cast({"p": pl.Int64})


def _per_period(moves: pl.DataFrame, net: pl.DataFrame, last: int) -> pl.DataFrame:
    """Sum the classified rows per period over every period of ``net`` (up to ``last``)."""
    kind, r, r0 = pl.col("kind"), pl.col("r"), pl.col("r0")
    retained = kind == "retained"
    flows = moves.group_by("p").agg(
        end=r.sum(),
        new=r.filter(kind == "new").sum(),
        reactivation=r.filter(kind == "reactivation").sum(),
        expansion=(r - r0).filter(retained & (r > r0)).sum(),
        contraction=(r0 - r).filter(retained & (r < r0)).sum(),
        customers_active=pl.len(),
        customers_new=(kind == "new").sum(),
        customers_retained=retained.sum(),
        customers_resurrected=(kind == "reactivation").sum(),
    )
    churn = (
        moves.filter(pl.col("churn_p") <= last)
        .group_by(p=pl.col("churn_p"))
        .agg(churned=r.sum(), customers_churned=pl.len())
    )
    negative = net.filter(pl.col("net") < 0).group_by("p").agg(negative_net=pl.col("net").sum())
    table = (
        period_grid(net)
        .join(flows, on="p", how="left")
        .join(churn, on="p", how="left")
        .join(negative, on="p", how="left")
    )
    table = table.with_columns(pl.exclude("p").fill_null(0).cast(pl.Int64)).sort("p")
    return table.with_columns(start=pl.col("end").shift(1, fill_value=0))


def _check_identity(table: pl.DataFrame) -> None:
    c = pl.col
    bridge = c("start") + c("new") + c("expansion") + c("reactivation") - c("contraction") - c("churned")
    counts = c("customers_new") + c("customers_retained") + c("customers_resurrected")
    lost = c("customers_active").shift(1, fill_value=0) - c("customers_retained")
    bad = table.filter((bridge != c("end")) | (counts != c("customers_active")) | (lost != c("customers_churned")))
    if bad.height:
        raise IdentityError(f"growth accounting identity broken in periods {bad['p'].to_list()}")


def bridge_cents(
    net: pl.DataFrame, code: PeriodCode, reactivation_window: int | timedelta | None = None
) -> pl.DataFrame:
    """The bridge in integer cents, indexed by period ``p``, from :func:`net_by_period` rows."""
    if net.height == 0:
        return pl.DataFrame(schema={"p": pl.Int64, **{c: pl.Int64 for c in (*MONEY_COLUMNS, *COUNT_COLUMNS)}})
    last = int(net.select(pl.col("p").max()).item())
    table = _per_period(classify(net, code, reactivation_window), net, last)
    _check_identity(table)
    return table


def growth_from_net(
    net: pl.DataFrame, code: PeriodCode, reactivation_window: int | timedelta | None = None
) -> pl.DataFrame:
    """:func:`growth_accounting` from :func:`net_by_period` rows (to share them with other tables)."""
    table = bridge_cents(net, code, reactivation_window)
    table = table.with_columns(money(pl.col(c)).alias(c) for c in MONEY_COLUMNS)
    return with_period_columns(table, code).select(GROWTH_COLUMNS)


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
    net = net_by_period(revenue, code, customer_col, ts_col, amount_col)
    return growth_from_net(net, code, reactivation_window)


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
    net = net_by_period(revenue, code, customer_col, ts_col, amount_col)
    return hunting_from_net(net, code, new_periods)


def hunting_from_net(net: pl.DataFrame, code: PeriodCode, new_periods: int = 1) -> pl.DataFrame:
    """:func:`hunting_farming` from :func:`net_by_period` rows."""
    if new_periods < 1:
        raise BadValueError(f"new_periods must be at least 1, got {new_periods}")
    active = net.filter(pl.col("net") > 0).with_columns(first=first_period())
    hunting = (pl.col("p") - pl.col("first")) < new_periods
    table = active.group_by("p").agg(
        hunting=pl.col("net").filter(hunting).sum(), farming=pl.col("net").filter(~hunting).sum()
    )
    table = period_grid(net).join(table, on="p", how="left").fill_null(0)
    table = table.sort("p").with_columns(
        hunting_share=pl.when(pl.col("hunting") + pl.col("farming") > 0).then(
            pl.col("hunting") / (pl.col("hunting") + pl.col("farming"))
        ),
        hunting=money(pl.col("hunting")),
        farming=money(pl.col("farming")),
    )
    return with_period_columns(table, code).select("period", "period_start", "hunting", "farming", "hunting_share")


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
