"""Cohort tables by the period of first revenue.

Customers are grouped by their first period with revenue above zero (the period in which growth
accounting counts them new; a reactivation-window return does not start a new cohort). Cell ``k`` is
the cohort's revenue in its ``k``-th period after the first divided by its revenue in the first
period; the same for active customers. Revenue per customer and period is the same non-negative
net revenue as in :func:`cvm.reporting.growth_accounting`.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from cvm.errors import BadValueError
from cvm.reporting.bridge import cohort_sql
from cvm.reporting.periods import (
    Frame,
    PeriodCode,
    complete_expr,
    lazy,
    money,
    period_code,
    period_label,
    period_start,
    require,
)
from cvm.reporting.queries import Runner, net_sql, run_local

COHORT_COLUMNS = (
    "cohort",
    "cohort_start",
    "k",
    "period",
    "customers",
    "revenue",
    "customer_retention",
    "revenue_retention",
)


def cohort_table(
    revenue: Frame,
    period: str = "M",
    customer_col: str = "customer_id",
    ts_col: str = "ts",
    amount_col: str = "amount",
) -> pl.DataFrame:
    """Long cohort table: one row per (cohort, k) for k = 0 up to the last period of the data.

    Returns
    -------
    polars.DataFrame
        ``cohort`` (label), ``cohort_start``, ``k``, ``period`` (label of cohort + k), ``customers``
        (active in that period), ``revenue`` (exact Decimal), ``customer_retention`` and
        ``revenue_retention`` (fractions of period 0).

    Examples
    --------
    >>> from datetime import date
    >>> tx = pl.DataFrame({"customer_id": ["a", "a", "b"], "ts": [date(2024, 1, 5), date(2024, 2, 5),
    ...     date(2024, 1, 9)], "amount": [100.0, 50.0, 100.0]})
    >>> cohort_table(tx).select("cohort", "k", "customers", "revenue_retention").rows()
    [('2024-01', 0, 2, 1.0), ('2024-01', 1, 1, 0.25)]
    """
    code = period_code(period)
    frame = lazy(revenue)
    require(frame, (customer_col, ts_col, amount_col), "the revenue frame")
    rows = frame.select(customer_id=pl.col(customer_col), ts=pl.col(ts_col), amount=pl.col(amount_col)).collect()
    net = net_sql(code, None, table="revenue")
    return cohorts_table(lambda sql: run_local(sql, {"revenue": rows}), net, code)


def cohorts_table(run: Runner, net: str, code: PeriodCode) -> pl.DataFrame:
    """:func:`cohort_table` from the relation ``net`` of net cents per (customer, period) that ``run`` reads."""
    cells = run(cohort_sql(net))
    if cells.height == 0:
        return pl.DataFrame(schema=_schema())
    cells = cells.cast({"c": pl.Int64, "p": pl.Int64, "customers": pl.Int64, "cents": pl.Int64, "last": pl.Int64})
    last = int(cells["last"][0])
    cohorts = cells.select(pl.col("c").unique()).with_columns(p=pl.int_ranges("c", last + 1)).explode("p")
    table = cohorts.join(cells.drop("last"), on=["c", "p"], how="left").with_columns(
        pl.col("customers").fill_null(0).cast(pl.Int64), pl.col("cents").fill_null(0)
    )
    first = pl.col("p") == pl.col("c")
    table = table.sort("c", "p").with_columns(
        n0=pl.col("customers").filter(first).first().over("c"), r0=pl.col("cents").filter(first).first().over("c")
    )
    return table.select(
        cohort=period_label(pl.col("c"), code),
        cohort_start=period_start(pl.col("c"), code),
        k=pl.col("p") - pl.col("c"),
        period=period_label(pl.col("p"), code),
        customers="customers",
        revenue=money(pl.col("cents")),
        customer_retention=pl.col("customers") / pl.col("n0"),
        revenue_retention=pl.col("cents") / pl.col("r0"),
    )


def mark_partial_cells(table: pl.DataFrame, code: PeriodCode, through: date) -> pl.DataFrame:
    """Add ``partial``: the cell's period (``cohort`` + ``k``) is not complete by ``through`` (:func:`final_day`).

    The cells of the running period read low (the period is not over), and so does the whole row of a
    cohort whose first period is still running; the charts mark both, as they mark partial periods.
    """
    if table.height == 0:
        return table.with_columns(partial=pl.lit(False))
    months = {"M": 1, "Q": 3, "Y": 12}[code]
    start = pl.col("cohort_start").dt.offset_by(pl.format("{}mo", pl.col("k") * months))
    return table.with_columns(partial=~complete_expr(start, code, through))


def partial_cohorts(table: pl.DataFrame) -> list[str]:
    """The cohorts whose first period is partial (their whole row is still forming)."""
    if "partial" not in table.columns or table.height == 0:
        return []
    return table.filter((pl.col("k") == 0) & pl.col("partial"))["cohort"].to_list()


def _schema() -> dict[str, pl.DataType]:
    return {
        "cohort": pl.Utf8(),
        "cohort_start": pl.Date(),
        "k": pl.Int64(),
        "period": pl.Utf8(),
        "customers": pl.Int64(),
        "revenue": pl.Decimal(38, 2),
        "customer_retention": pl.Float64(),
        "revenue_retention": pl.Float64(),
    }


def cohort_matrix(table: pl.DataFrame, value: str = "revenue_retention") -> pl.DataFrame:
    """Pivot a :func:`cohort_table` to one row per cohort and one column per ``k`` (``"0", "1", ...``)."""
    if value not in table.columns:
        raise BadValueError(f"no column {value!r} in the cohort table; use one of {', '.join(table.columns)}")
    if table.height == 0:
        return pl.DataFrame(schema={"cohort": pl.Utf8})
    wide = table.select("cohort", pl.col("k").cast(pl.Utf8), value).pivot(on="k", index="cohort", values=value)
    return wide.sort("cohort")
