"""Growth accounting on a hand-made ledger, and the identities on random ledgers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvm.reporting.growth import COUNT_COLUMNS, growth_accounting, hunting_farming, mrr_by_period


def ts(month: int, day: int = 10) -> datetime:
    return datetime(2024, month, day, 12, tzinfo=UTC)


# Monthly ledger, January to May 2024. Reactivation window: 2 inactive periods.
LEDGER = [
    # A: new, expansion, contraction, churn.
    ("A", ts(1), 100.00),
    ("A", ts(2), 150.00),
    ("A", ts(3), 120.00),
    # B: churns in Feb, comes back in Mar after 1 inactive month (reactivation), flat in Apr.
    ("B", ts(1), 50.00),
    ("B", ts(3), 70.00),
    ("B", ts(4), 70.00),
    # C: new and gone at once: new in Feb, churned in Mar.
    ("C", ts(2), 40.00),
    # D: refunds. Feb 200 - 50 = 150 (contraction); Mar only a refund, net -30 (churn, negative net).
    ("D", ts(1), 200.00),
    ("D", ts(2, 3), 200.00),
    ("D", ts(2, 20), -50.00),
    ("D", ts(3), -30.00),
    # E: 3 inactive months (Feb-Apr) > window 2: the May return counts as new.
    ("E", ts(1), 60.00),
    ("E", ts(5), 80.00),
    # F: its first month nets to zero (bought and fully refunded): not new until April.
    ("F", ts(2, 1), 25.00),
    ("F", ts(2, 28), -25.00),
    ("F", ts(4), 30.00),
    # H: 2 inactive months (Feb-Mar) = window: the April return is a reactivation.
    ("H", ts(1), 10.00),
    ("H", ts(4), 10.00),
]


def ledger() -> pl.DataFrame:
    rows = list(zip(*LEDGER, strict=True))
    return pl.DataFrame({"customer_id": rows[0], "ts": rows[1], "amount": rows[2]})


def as_plain(frame: pl.DataFrame) -> list[dict[str, object]]:
    return [
        {k: (float(v) if isinstance(v, Decimal) else v) for k, v in row.items()}
        for row in frame.drop("period_start").to_dicts()
    ]


MONTHLY = [
    # Jan: A100 B50 D200 E60 H10 all new -> 420.
    dict(period="2024-01", start=0.0, new=420.0, expansion=0.0, reactivation=0.0, contraction=0.0, churned=0.0,
         end=420.0, negative_net=0.0, customers_active=5, customers_new=5, customers_retained=0,
         customers_resurrected=0, customers_churned=0),
    # Feb: A 100->150 (+50); D 200->150 (-50); C new 40; B 50, E 60, H 10 churned (120); F nets 0.
    # end = 150 + 40 + 150 = 340 = 420 + 40 + 50 - 50 - 120.
    dict(period="2024-02", start=420.0, new=40.0, expansion=50.0, reactivation=0.0, contraction=50.0,
         churned=120.0, end=340.0, negative_net=0.0, customers_active=3, customers_new=1, customers_retained=2,
         customers_resurrected=0, customers_churned=3),
    # Mar: A 150->120 (-30); B back 70; C 40 and D 150 churned (190); D's net -30 is negative_net.
    # end = 120 + 70 = 190 = 340 + 70 - 30 - 190.
    dict(period="2024-03", start=340.0, new=0.0, expansion=0.0, reactivation=70.0, contraction=30.0,
         churned=190.0, end=190.0, negative_net=-30.0, customers_active=2, customers_new=0, customers_retained=1,
         customers_resurrected=1, customers_churned=2),
    # Apr: A 120 churned; B flat 70; F new 30; H back 10. end = 70 + 30 + 10 = 110 = 190 + 30 + 10 - 120.
    dict(period="2024-04", start=190.0, new=30.0, expansion=0.0, reactivation=10.0, contraction=0.0,
         churned=120.0, end=110.0, negative_net=0.0, customers_active=3, customers_new=1, customers_retained=1,
         customers_resurrected=1, customers_churned=1),
    # May: B 70, F 30, H 10 churned (110); E new again 80. end = 80 = 110 + 80 - 110.
    dict(period="2024-05", start=110.0, new=80.0, expansion=0.0, reactivation=0.0, contraction=0.0,
         churned=110.0, end=80.0, negative_net=0.0, customers_active=1, customers_new=1, customers_retained=0,
         customers_resurrected=0, customers_churned=3),
]  # fmt: skip


def test_hand_made_ledger_monthly() -> None:
    g = growth_accounting(ledger(), "M", reactivation_window=2)
    assert as_plain(g) == MONTHLY
    assert g["period_start"].to_list() == [date(2024, m, 1) for m in range(1, 6)]
    assert g.schema["end"] == pl.Decimal(38, 2)


def test_reactivation_window_in_days_and_none() -> None:
    # E's gap runs from Feb 1 (its churn) to May 1: 29 + 31 + 30 = 90 days > 60; H's Feb 1 to Apr 1: 60 days.
    by_days = growth_accounting(ledger(), "month", reactivation_window=timedelta(days=60))
    assert as_plain(by_days) == MONTHLY
    # Without a window E's return is a reactivation of 80.
    plain = as_plain(growth_accounting(ledger(), "M"))
    assert plain[:4] == MONTHLY[:4]
    assert plain[4] == {**MONTHLY[4], "new": 0.0, "reactivation": 80.0, "customers_new": 0, "customers_resurrected": 1}


def test_hand_made_ledger_quarterly() -> None:
    g = as_plain(growth_accounting(ledger(), "Q"))
    # Q1: A 370, B 120, C 40, D 200 + 150 - 30 = 320, E 60, H 10, F 0: all new = 920.
    assert g[0] == dict(
        period="2024-Q1", start=0.0, new=920.0, expansion=0.0, reactivation=0.0, contraction=0.0, churned=0.0,
        end=920.0, negative_net=0.0, customers_active=6, customers_new=6, customers_retained=0,
        customers_resurrected=0, customers_churned=0,
    )  # fmt: skip
    # Q2: B 120->70 (-50), E 60->80 (+20), H 10->10, F new 30; A 370, C 40, D 320 churned (730).
    # end = 70 + 80 + 30 + 10 = 190 = 920 + 30 + 20 - 50 - 730.
    assert g[1] == dict(
        period="2024-Q2", start=920.0, new=30.0, expansion=20.0, reactivation=0.0, contraction=50.0,
        churned=730.0, end=190.0, negative_net=0.0, customers_active=4, customers_new=1, customers_retained=3,
        customers_resurrected=0, customers_churned=3,
    )  # fmt: skip
    # One year: every customer nets positive: A 370 + B 190 + C 40 + D 320 + E 140 + F 0 + 30 + H 20 = 1110.
    assert [r["end"] for r in as_plain(growth_accounting(ledger(), "year"))] == [1110.0]


def test_empty_periods_are_included_and_pandas_input_works() -> None:
    tx = pd.DataFrame({"cid": ["a", "a"], "when": [date(2024, 1, 5), date(2024, 4, 5)], "value": [10.0, 10.0]})
    g = growth_accounting(tx, "M", customer_col="cid", ts_col="when", amount_col="value")
    assert g["period"].to_list() == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert [float(v) for v in g["churned"]] == [0.0, 10.0, 0.0, 0.0]
    assert [float(v) for v in g["reactivation"]] == [0.0, 0.0, 0.0, 10.0]
    assert g["customers_active"].to_list() == [1, 0, 0, 1]


def test_missing_column_is_named() -> None:
    with pytest.raises(ValueError, match="lacks the column"):
        growth_accounting(pl.DataFrame({"customer_id": ["a"], "ts": [date(2024, 1, 1)]}))
    with pytest.raises(ValueError, match="unknown period"):
        growth_accounting(ledger(), "week")


def test_empty_input_gives_an_empty_bridge() -> None:
    empty = ledger().head(0)
    assert growth_accounting(empty).height == 0


def test_hunting_and_farming_split_the_end() -> None:
    g = growth_accounting(ledger(), "M")
    hf = hunting_farming(ledger(), "M")
    # Hunting: customers in their first month with revenue: Jan 420, Feb C 40, Apr F 30, May none (E is old).
    assert [float(v) for v in hf["hunting"]] == [420.0, 40.0, 0.0, 30.0, 0.0]
    assert [float(h + f) for h, f in zip(hf["hunting"], hf["farming"], strict=True)] == [float(v) for v in g["end"]]
    two = hunting_farming(ledger(), "M", new_periods=2)
    # Feb: A and D are in their 2nd month: everything is hunting (340); Mar: C is gone, B and A are old.
    assert [float(v) for v in two["hunting"]] == [420.0, 340.0, 0.0, 30.0, 0.0]


def test_mrr_by_period_snapshots_at_period_end() -> None:
    subs = pl.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c"],
            "start": [date(2024, 1, 15), date(2024, 3, 1), date(2024, 2, 3), date(2024, 2, 5)],
            "end": [date(2024, 3, 31), None, date(2024, 2, 20), date(2024, 4, 30)],
            "mrr": [10.0, 5.5, 99.0, 20.0],
        }
    )
    rows = mrr_by_period(subs, "M", as_of=date(2024, 4, 15))
    got = {(r["customer_id"], r["ts"].month): float(r["amount"]) for r in rows.to_dicts()}
    # a: 10 live at Jan 31 and Feb 29; on Mar 31 the first ended (end exclusive), the second (5.5) runs.
    # b: starts and ends inside February: never at a period end. c: live Feb 29, Mar 31 and on Apr 15 (as_of).
    assert got == {("a", 1): 10.0, ("a", 2): 10.0, ("a", 3): 5.5, ("a", 4): 5.5, ("c", 2): 20.0, ("c", 3): 20.0,
                   ("c", 4): 20.0}  # fmt: skip
    g = growth_accounting(rows, "M")
    assert [float(v) for v in g["end"]] == [10.0, 30.0, 25.5, 25.5]
    assert [float(v) for v in g["contraction"]] == [0.0, 0.0, 4.5, 0.0]
    quarterly = mrr_by_period(subs, "Q", as_of=date(2024, 4, 15))
    # Q1 snapshot on Mar 31: a's second contract and c; Q2 snapshot on as_of (Apr 15): the same.
    assert {(r["customer_id"], r["ts"], float(r["amount"])) for r in quarterly.to_dicts()} == {
        ("a", date(2024, 1, 1), 5.5), ("a", date(2024, 4, 1), 5.5),
        ("c", date(2024, 1, 1), 20.0), ("c", date(2024, 4, 1), 20.0),
    }  # fmt: skip


# -- properties -------------------------------------------------------------------------------------

_days = st.integers(min_value=0, max_value=3 * 366)
_cents = st.integers(min_value=-50_000, max_value=200_000)
_row = st.tuples(st.sampled_from("abcdefgh"), _days, _cents)
_window = st.one_of(
    st.none(), st.integers(min_value=0, max_value=6), st.integers(0, 400).map(lambda d: timedelta(days=d))
)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(_row, min_size=1, max_size=60), period=st.sampled_from("MQY"), window=_window)
def test_identities_hold_exactly_on_random_ledgers(
    rows: list[tuple[str, int, int]], period: str, window: int | timedelta | None
) -> None:
    frame = pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "ts": [date(2023, 1, 1) + timedelta(days=r[1]) for r in rows],
            "amount": [r[2] / 100 for r in rows],
        }
    )
    g = growth_accounting(frame, period, reactivation_window=window)
    prev_end, prev_active = Decimal(0), 0
    for r in g.to_dicts():
        assert r["start"] == prev_end
        bridge = r["start"] + r["new"] + r["expansion"] + r["reactivation"] - r["contraction"] - r["churned"]
        assert bridge == r["end"]
        assert min(r[c] for c in ("new", "expansion", "reactivation", "contraction", "churned")) >= 0
        assert r["negative_net"] <= 0
        assert r["customers_active"] == r["customers_new"] + r["customers_retained"] + r["customers_resurrected"]
        assert r["customers_churned"] == prev_active - r["customers_retained"]
        prev_end, prev_active = r["end"], r["customers_active"]
    # Booked net revenue per period = end + negative_net, to the cent.
    code = {"M": "1mo", "Q": "1q", "Y": "1y"}[period]
    booked = (
        frame.with_columns(pl.col("ts").dt.truncate(code), cents=(pl.col("amount") * 100).round().cast(pl.Int64))
        .group_by("ts")
        .agg(pl.col("cents").sum())
    )
    expected = dict(zip(booked["ts"], booked["cents"], strict=True))
    for r in g.to_dicts():
        assert int((r["end"] + r["negative_net"]) * 100) == expected.get(r["period_start"], 0)
    assert all(c in g.columns for c in COUNT_COLUMNS)
