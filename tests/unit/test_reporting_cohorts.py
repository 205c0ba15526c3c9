"""Cohort tables on a hand-made ledger."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from cvm.reporting import cohort_matrix, cohort_table

LEDGER = pl.DataFrame(
    {
        "customer_id": ["a", "a", "a", "b", "c", "c", "c", "c", "d"],
        "ts": [
            date(2024, 1, 9),
            date(2024, 2, 9),
            date(2024, 4, 9),
            date(2024, 1, 20),
            date(2024, 2, 1),
            date(2024, 3, 1),
            date(2024, 3, 15),
            date(2024, 4, 1),
            date(2024, 2, 2),
        ],
        "amount": [100.0, 50.0, 100.0, 100.0, 40.0, 40.0, -40.0, 20.0, -10.0],
    }
)


def test_cohort_table_by_hand() -> None:
    rows = [
        (
            r["cohort"],
            r["k"],
            r["period"],
            r["customers"],
            r["revenue"],
            r["customer_retention"],
            r["revenue_retention"],
        )
        for r in cohort_table(LEDGER, "M").to_dicts()
    ]
    assert rows == [
        # January cohort (a, b): 200 in k0; Feb a 50 -> 0.25; Mar nobody; Apr a 100 -> 0.5.
        ("2024-01", 0, "2024-01", 2, Decimal("200.00"), 1.0, 1.0),
        ("2024-01", 1, "2024-02", 1, Decimal("50.00"), 0.5, 0.25),
        ("2024-01", 2, "2024-03", 0, Decimal("0.00"), 0.0, 0.0),
        ("2024-01", 3, "2024-04", 1, Decimal("100.00"), 0.5, 0.5),
        # February cohort (c; d only ever refunded, so it has no cohort): Mar nets to 0; Apr 20 -> 0.5.
        ("2024-02", 0, "2024-02", 1, Decimal("40.00"), 1.0, 1.0),
        ("2024-02", 1, "2024-03", 0, Decimal("0.00"), 0.0, 0.0),
        ("2024-02", 2, "2024-04", 1, Decimal("20.00"), 1.0, 0.5),
    ]


def test_cohort_matrix_and_quarters() -> None:
    wide = cohort_matrix(cohort_table(LEDGER, "M"), "revenue_retention")
    assert wide.columns == ["cohort", "0", "1", "2", "3"]
    assert wide.row(1) == ("2024-02", 1.0, 0.0, 0.5, None)
    q = cohort_table(LEDGER, "Q")
    # One quarter cohort holding a, b, c; Q2: a 100 + c 20 over Q1 a 150 + b 100 + c (40 + 40 - 40) = 290.
    assert q.select("cohort", "k", "customers").rows() == [("2024-Q1", 0, 3), ("2024-Q1", 1, 2)]
    assert q["revenue_retention"][1] == pytest.approx(120 / 290)
    with pytest.raises(ValueError, match="no column"):
        cohort_matrix(q, "nope")
    assert cohort_table(LEDGER.head(0)).height == 0
