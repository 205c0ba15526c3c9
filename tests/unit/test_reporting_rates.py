"""Retention rates: the self-checks of docs/reference.md and the per-period columns."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from cvm.reporting import (
    add_rates,
    customer_churn_rate,
    gross_revenue_churn,
    growth_accounting,
    grr,
    net_revenue_churn,
    nrr,
    quick_ratio,
)


def test_reference_self_check_nrr_and_grr() -> None:
    # start 100, expansion 15, contraction 5, churned 10 -> NRR (100+15-5-10)/100 = 100%, GRR (100-10-5)/100 = 85%.
    assert nrr(100, expansion=15, contraction=5, churned=10) == 1.0
    assert grr(100, churned=10, contraction=5) == 0.85


def test_reference_self_check_gross_and_net_churn() -> None:
    # start 100, churned 10, contraction 10, expansion 10 -> gross churn (10+10)/100 = 20%, net (10+10-10)/100 = 10%.
    assert gross_revenue_churn(100, churned=10, contraction=10) == 0.2
    assert net_revenue_churn(100, churned=10, contraction=10, expansion=10) == 0.1


def test_reactivation_flag_quick_ratio_and_zero_denominators() -> None:
    assert nrr(100, 15, 5, 10, reactivation=20) == 1.0
    assert nrr(100, 15, 5, 10, reactivation=20, include_reactivation=True) == 1.2
    # Quick ratio numerator: new + reactivation + expansion = 30 + 20 + 15 = 65; denominator 10 + 5 = 15.
    assert quick_ratio(new=30, reactivation=20, expansion=15, churned=10, contraction=5) == pytest.approx(65 / 15)
    assert quick_ratio(1, 0, 0, 0, 0) is None
    assert grr(0, 0, 0) is None
    assert customer_churn_rate(3, 12) == 0.25
    # Decimal inputs are exact: (100.10 + 0.10 - 50.05) / 100.10.
    assert nrr(Decimal("100.10"), Decimal("0.10"), 0, Decimal("50.05")) == float(Decimal("50.15") / Decimal("100.10"))


def test_grr_never_above_one_and_columns_per_period() -> None:
    tx = pl.DataFrame(
        {
            "customer_id": ["a", "b", "a", "c", "a", "b"],
            "ts": [
                date(2024, 1, 3),
                date(2024, 1, 4),
                date(2024, 2, 3),
                date(2024, 2, 9),
                date(2024, 3, 3),
                date(2024, 3, 5),
            ],
            "amount": [100.0, 50.0, 115.0, 30.0, 90.0, 20.0],
        }
    )
    g = add_rates(growth_accounting(tx, "M"))
    feb, mar = g.row(1, named=True), g.row(2, named=True)
    # Feb: start 150, a +15, b churned 50, c new 30 -> GRR (150-50)/150, NRR (150+15-50)/150, QR (30+15)/50.
    assert feb["grr"] == pytest.approx(100 / 150)
    assert feb["nrr"] == pytest.approx(115 / 150)
    assert feb["quick_ratio"] == pytest.approx(45 / 50)
    assert feb["customer_churn_rate"] == 0.5
    # Mar: start 145 (a 115, c 30); a -25, c churned 30, b back 20.
    assert mar["grr"] == pytest.approx((145 - 30 - 25) / 145)
    assert mar["nrr"] == pytest.approx((145 - 30 - 25) / 145)
    with_back = add_rates(growth_accounting(tx, "M"), include_reactivation=True).row(2, named=True)
    assert with_back["nrr"] == pytest.approx((145 - 30 - 25 + 20) / 145)
    assert g["grr"][0] is None
    assert all(v <= 1 for v in g["grr"].drop_nulls())
