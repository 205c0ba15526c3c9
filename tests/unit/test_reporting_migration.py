"""Segment migration (generic, value grades, activity states) and score distributions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from cvm.reporting import (
    activity_states,
    grade_distribution,
    grade_states,
    migration_matrix,
    migration_pivot,
    score_histogram,
)
from cvm.reporting.migration import ACTIVITY_STATES, GRADES, stage_states

MAR, JUN, SEP = date(2024, 3, 1), date(2024, 6, 1), date(2024, 9, 1)


def ts(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 12, tzinfo=UTC)


TX = pl.DataFrame(
    [
        ("m1", ts(2024, 1, 10), 50.0),  # one purchase: new in March (51 days), at risk in June (143), lapsed in Sep
        ("m3", ts(2024, 4, 30), 20.0),  # bought on the day its contract ended: a contract churn
        ("m4", ts(2023, 10, 1), 70.0),  # 152 days before March: at risk; 244 before June: lapsed
        ("m5", ts(2024, 5, 1), 10.0),  # first purchase in May: nothing in March, new in June
        ("m6", ts(2024, 2, 20), -5.0),  # only a refund: never a state
    ],
    schema=["customer_id", "ts", "amount"],
    orient="row",
)
SUBS = pl.DataFrame(
    [
        ("m2", date(2023, 1, 1), None),  # live all along, never bought: active
        ("m3", date(2023, 1, 1), date(2024, 4, 30)),
    ],
    schema={"customer_id": pl.Utf8, "start": pl.Date, "end": pl.Date},
    orient="row",
)


def test_activity_states_by_hand() -> None:
    states = activity_states(TX, SUBS, [MAR, JUN, SEP])
    got = {(r["customer_id"], r["as_of"]): r["segment"] for r in states.to_dicts()}
    assert got == {
        ("m1", MAR): "new", ("m1", JUN): "at_risk", ("m1", SEP): "lapsed",
        ("m2", MAR): "active", ("m2", JUN): "active", ("m2", SEP): "active",
        ("m3", MAR): "active", ("m3", JUN): "lapsed", ("m3", SEP): "lapsed",
        ("m4", MAR): "at_risk", ("m4", JUN): "lapsed", ("m4", SEP): "lapsed",
        ("m5", JUN): "new", ("m5", SEP): "at_risk",
    }  # fmt: skip
    with pytest.raises(ValueError, match="active_days"):
        activity_states(TX, SUBS, [MAR], active_days=200, lapsed_days=100)


def test_activity_migration_matrix() -> None:
    matrix = migration_matrix(activity_states(TX, SUBS, [MAR, JUN]), MAR, JUN, ACTIVITY_STATES)
    assert matrix.rows() == [
        ("(none)", "new", 1, 1.0),  # m5
        ("new", "at_risk", 1, 1.0),  # m1
        ("active", "active", 1, 0.5),  # m2
        ("active", "lapsed", 1, 0.5),  # m3
        ("at_risk", "lapsed", 1, 1.0),  # m4
    ]
    wide = migration_pivot(matrix)
    assert wide.columns == ["from_segment", "new", "at_risk", "active", "lapsed"]
    assert wide.filter(pl.col("from_segment") == "active").row(0) == ("active", 0, 0, 1, 1)


def test_grade_migration_uses_the_latest_grade_on_or_before_each_date() -> None:
    scores = pl.DataFrame(
        [
            ("a", date(2024, 1, 1), "clv", 10.0, "low"),
            ("a", date(2024, 5, 1), "clv", 900.0, "high"),
            ("b", date(2024, 1, 1), "clv", 300.0, "medium"),
            ("c", date(2024, 1, 1), "clv", 5.0, "low"),
            ("c", date(2024, 7, 1), "clv", 800.0, "high"),  # after the second date: ignored
            ("d", date(2024, 4, 1), "clv", 1.0, "low"),
            ("a", date(2024, 5, 1), "churn", 0.9, "high"),  # another score: ignored
        ],
        schema=["customer_id", "as_of", "score", "value", "grade"],
        orient="row",
    )
    matrix = migration_matrix(grade_states(scores, "value"), MAR, JUN, GRADES)
    assert matrix.rows() == [
        ("(none)", "low", 1, 1.0),  # d
        ("low", "low", 1, 0.5),  # c
        ("low", "high", 1, 0.5),  # a
        ("medium", "medium", 1, 1.0),  # b
    ]
    # Distributions use each customer's latest clv row: a 900, b 300, c 800, d 1. Edges 1, 300.67, 600.33, 900:
    # d and b in the first bin, c and a in the last.
    hist = score_histogram(scores, "clv", bins=3, clip_quantile=None)
    assert hist["customers"].to_list() == [2, 0, 2]
    assert hist["lower"][0] == 1.0
    assert hist["upper"][2] == 900.0
    grades = grade_distribution(scores, "clv")
    assert grades.select("grade", "customers", "share").rows() == [("low", 1, 0.25), ("medium", 1, 0.25),
                                                                  ("high", 2, 0.5)]  # fmt: skip
    assert score_histogram(scores, "nothing").height == 0
    with pytest.raises(ValueError, match="before"):
        migration_matrix(grade_states(scores), JUN, MAR)


def test_stage_states_are_the_stored_life_cycle_stages() -> None:
    stored = pl.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "as_of": [date(2024, 1, 31), date(2024, 1, 31), date(2024, 2, 29), date(2024, 2, 29)],
            "segment": ["stage:active", "vip", "stage:at_risk", "stage:lapsed"],
        }
    )
    states = stage_states(stored)
    assert states.rows() == [("a", date(2024, 1, 31), "active"), ("a", date(2024, 2, 29), "at_risk"),
                             ("b", date(2024, 2, 29), "lapsed")]  # fmt: skip
    matrix = migration_matrix(states, date(2024, 1, 31), date(2024, 2, 29))
    assert matrix.select("from_segment", "to_segment", "customers").rows() == [
        ("(none)", "lapsed", 1),
        ("active", "at_risk", 1),
    ]
