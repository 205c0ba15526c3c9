"""Churn events, churn reasons and silent churn on hand-made data."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import pytest

from cvm.reporting import churn_by_period, churn_by_type, churn_events, churn_reasons, silent_flags, silent_summary

AS_OF = date(2024, 12, 31)


def d(text: str) -> date:
    return date.fromisoformat(text)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(hour=10, tzinfo=UTC)


SUBSCRIPTIONS = pl.DataFrame(
    [
        # k1: main contract ends Jun 30 (too_expensive); its add-on ended earlier (a partial cancellation).
        ("k1", d("2024-01-01"), d("2024-06-30"), 50.0, "too_expensive"),
        ("k1", d("2024-02-01"), d("2024-03-15"), 10.0, "unused"),
        # k2: contract ended May 31 but k2 bought in August: not a contract churn.
        ("k2", d("2024-01-01"), d("2024-05-31"), 20.0, "payment_failed"),
        # k4 open, k5 ends after as_of: both live.
        ("k4", d("2023-01-01"), None, 30.0, None),
        ("k5", d("2023-01-01"), d("2025-03-31"), 30.0, None),
        # k6: two contracts end the same day, one with a reason.
        ("k6", d("2023-05-01"), d("2024-09-30"), 30.0, "low_quality"),
        ("k6", d("2023-06-01"), d("2024-09-30"), 15.0, None),
        # k7: ended without a recorded reason.
        ("k7", d("2024-01-01"), d("2024-10-31"), 5.0, None),
    ],
    schema=["customer_id", "start", "end", "mrr", "end_reason"],
    orient="row",
)
TRANSACTIONS = pl.DataFrame(
    [
        ("k1", ts("2024-03-01"), 100.0),
        ("k2", ts("2024-08-01"), 40.0),
        # k3: no contract; last purchase 2023-06-01 is more than 365 days before as_of; the refund comes later.
        ("k3", ts("2023-06-01"), 80.0),
        ("k3", ts("2023-06-10"), -30.0),
    ],
    schema=["customer_id", "ts", "amount"],
    orient="row",
)
CONTACTS = pl.DataFrame(
    [
        ("k1", ts("2024-06-15"), "service"),  # 15 days before k1's churn: k1 is not silent
        ("k3", ts("2022-01-01"), "complaint"),  # long before k3's churn, but a complaint
        ("k6", ts("2024-03-01"), "service"),  # 213 days before k6's churn: outside 180 days
        ("k6", ts("2024-10-15"), "complaint"),  # after k6's churn: does not count
        ("k7", ts("2024-05-04"), "billing"),  # exactly 180 days before k7's churn (Oct 31): counts
    ],
    schema=["customer_id", "ts", "topic"],
    orient="row",
)


def events() -> pl.DataFrame:
    return churn_events(TRANSACTIONS, SUBSCRIPTIONS, AS_OF)


def test_churn_events_by_hand() -> None:
    rows = [(r["customer_id"], r["churned_at"], r["basis"], r["reason"], r["reason_type"], r["mrr_lost"],
             r["revenue_lost"]) for r in events().to_dicts()]  # fmt: skip
    assert rows == [
        # k3: inactivity churn at its last purchase; revenue = 80 in the year up to it (the refund is later).
        ("k3", d("2023-06-01"), "inactivity", None, "unknown", Decimal("0.00"), Decimal("80.00")),
        # k1: 12 x 50 + the 100 purchase = 700.
        ("k1", d("2024-06-30"), "contract", "too_expensive", "voluntary", Decimal("50.00"), Decimal("700.00")),
        # k6: 30 + 15 MRR ended on Sep 30 -> 12 x 45 = 540.
        ("k6", d("2024-09-30"), "contract", "low_quality", "voluntary", Decimal("45.00"), Decimal("540.00")),
        ("k7", d("2024-10-31"), "contract", None, "unknown", Decimal("5.00"), Decimal("60.00")),
    ]
    # With 600 days of patience k3 is not churned yet.
    assert "k3" not in churn_events(TRANSACTIONS, SUBSCRIPTIONS, AS_OF, inactivity_days=600)["customer_id"]
    # By default as_of is the data's end: the last purchase (2024-08-01; contract ends after it are scheduled,
    # not seen). Then k6 and k7 are still live.
    assert churn_events(TRANSACTIONS, SUBSCRIPTIONS)["customer_id"].to_list() == ["k3", "k1"]


def test_churn_reasons_and_types() -> None:
    reasons = churn_reasons(events())
    # Two recorded reasons, one churn each: ties go alphabetically.
    assert reasons.select("rank", "reason", "reason_type", "customers", "share").rows() == [
        (1, "low_quality", "voluntary", 1, 0.5),
        (2, "too_expensive", "voluntary", 1, 0.5),
    ]
    assert churn_reasons(events(), top=1).height == 1
    by_type = {r["reason_type"]: (r["customers"], r["share"]) for r in churn_by_type(events()).to_dicts()}
    assert by_type == {"voluntary": (2, 0.5), "involuntary": (0, 0.0), "unknown": (2, 0.5)}
    per_year = churn_by_period(events(), "Y").select("period", "churned", "voluntary", "unknown").rows()
    assert per_year == [("2023", 1, 0, 1), ("2024", 3, 2, 1)]


def test_silent_churn_by_hand() -> None:
    flags = silent_flags(events(), CONTACTS)
    assert dict(zip(flags["customer_id"], flags["silent"], strict=True)) == {
        "k3": False,  # a complaint, long ago
        "k1": False,  # a service contact 15 days before
        "k6": True,  # last contact 213 days before; the complaint came after the churn
        "k7": False,  # a contact exactly 180 days before
    }
    summary = silent_summary(flags)
    assert (summary["churned"], summary["silent"], summary["share_customers"]) == (4, 1, 0.25)
    # Revenue lost: 80 + 700 + 540 + 60 = 1380, of which k6's 540 silently.
    assert (summary["revenue_lost"], summary["silent_revenue_lost"]) == (1380.0, 540.0)
    assert summary["share_revenue"] == pytest.approx(540 / 1380)
    # A 179-day lookback misses k7's contact; looking for complaints only in the last year clears k3.
    assert silent_flags(events(), CONTACTS, lookback_days=179)["silent"].sum() == 2
    assert silent_flags(events(), CONTACTS, loud_lookback_days=365)["silent"].sum() == 2
