"""Retention rates from the growth bridge (:mod:`cvm.reporting.growth`).

* GRR = (start - churned - contraction) / start, never above 100%.
* NRR = (start + expansion - contraction - churned [+ reactivation]) / start, over the customers
  active at the start; reactivation is added only when ``include_reactivation`` is set (default out,
  since reactivated customers were not active at the start).
* Quick ratio = (new + reactivation + expansion) / (churned + contraction): the numerator counts
  every revenue gained in the period, reactivation included.
* Gross revenue churn = (churned + contraction) / start; net revenue churn =
  (churned + contraction - expansion) / start.
* Customer churn rate = customers churned in t / customers active in t - 1.

Every rate is a fraction (0.85 is 85%), or ``None`` (null) where its denominator is zero.

Examples
--------
>>> nrr(100, expansion=15, contraction=5, churned=10), grr(100, churned=10, contraction=5)
(1.0, 0.85)
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

Number = int | float | Decimal


def _ratio(num: Number, den: Number) -> float | None:
    return None if den == 0 else float(Decimal(str(num)) / Decimal(str(den)))


def grr(start: Number, churned: Number, contraction: Number) -> float | None:
    """Gross revenue retention (reference.md "Rates")."""
    return _ratio(Decimal(str(start)) - Decimal(str(churned)) - Decimal(str(contraction)), start)


def nrr(
    start: Number,
    expansion: Number,
    contraction: Number,
    churned: Number,
    reactivation: Number = 0,
    include_reactivation: bool = False,
) -> float | None:
    """Net revenue retention, reactivation in or out by the flag (reference.md "Rates")."""
    kept = Decimal(str(start)) + Decimal(str(expansion)) - Decimal(str(contraction)) - Decimal(str(churned))
    if include_reactivation:
        kept += Decimal(str(reactivation))
    return _ratio(kept, start)


def quick_ratio(
    new: Number, reactivation: Number, expansion: Number, churned: Number, contraction: Number
) -> float | None:
    """(new + reactivation + expansion) / (churned + contraction)."""
    gained = Decimal(str(new)) + Decimal(str(reactivation)) + Decimal(str(expansion))
    return _ratio(gained, Decimal(str(churned)) + Decimal(str(contraction)))


def gross_revenue_churn(start: Number, churned: Number, contraction: Number) -> float | None:
    """(churned + contraction) / start."""
    return _ratio(Decimal(str(churned)) + Decimal(str(contraction)), start)


def net_revenue_churn(start: Number, churned: Number, contraction: Number, expansion: Number) -> float | None:
    """(churned + contraction - expansion) / start."""
    return _ratio(Decimal(str(churned)) + Decimal(str(contraction)) - Decimal(str(expansion)), start)


def customer_churn_rate(churned: int, active_before: int) -> float | None:
    """Customers churned in a period over customers active in the period before."""
    return _ratio(churned, active_before)


def add_rates(growth: pl.DataFrame, include_reactivation: bool = False) -> pl.DataFrame:
    """Add ``grr, nrr, quick_ratio, gross_revenue_churn, net_revenue_churn, customer_churn_rate``.

    ``growth`` is a frame from :func:`cvm.reporting.growth_accounting`; rates are per period (monthly
    rates for monthly periods).
    """
    f = {c: pl.col(c).cast(pl.Float64) for c in ("start", "new", "expansion", "reactivation", "contraction", "churned")}
    start = f["start"]
    kept = start + f["expansion"] - f["contraction"] - f["churned"]
    if include_reactivation:
        kept = kept + f["reactivation"]
    lost = f["churned"] + f["contraction"]
    active_before = pl.col("customers_active").shift(1, fill_value=0)

    def per(num: pl.Expr, den: pl.Expr) -> pl.Expr:
        return pl.when(den != 0).then(num / den)

    return growth.with_columns(
        grr=per(start - lost, start),
        nrr=per(kept, start),
        quick_ratio=per(f["new"] + f["reactivation"] + f["expansion"], lost),
        gross_revenue_churn=per(lost, start),
        net_revenue_churn=per(lost - f["expansion"], start),
        customer_churn_rate=per(pl.col("customers_churned").cast(pl.Float64), active_before.cast(pl.Float64)),
    )
