"""Report filters: customer attributes and score-grade segments."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from cvm.reporting import ReportFilter, growth_accounting

CUSTOMERS = pl.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d"],
        "kind": ["B2B", "B2B", "B2C", "B2C"],
        "channel": ["direct", "distribution", "direct", "direct"],
        "region": ["North", "South", "North", "South"],
        "sector": ["retail", "retail", None, None],
    }
)
SCORES = pl.DataFrame(
    [
        ("a", date(2024, 1, 1), "clv", 900.0, "high"),
        ("a", date(2024, 6, 1), "clv", 10.0, "low"),  # a's latest grade is low
        ("b", date(2024, 6, 1), "clv", 800.0, "high"),
        ("c", date(2024, 6, 1), "clv", 700.0, "high"),
    ],
    schema=["customer_id", "as_of", "score", "value", "grade"],
    orient="row",
)


def ids(f: ReportFilter) -> list[str]:
    selected = f.customer_ids(CUSTOMERS, SCORES)
    assert selected is not None
    return sorted(selected.collect()["customer_id"].to_list())


def test_attribute_filters_and_values() -> None:
    assert ReportFilter().customer_ids(CUSTOMERS) is None
    assert ReportFilter().empty
    assert ids(ReportFilter(kind="B2B")) == ["a", "b"]
    assert ids(ReportFilter(kind="B2B", channel="direct")) == ["a"]
    assert ids(ReportFilter(region=["North", "South"], kind="B2C")) == ["c", "d"]
    assert ids(ReportFilter(region="North,South", sector="retail")) == ["a", "b"]
    assert ReportFilter(kind=["B2B"], region="North,South").to_dict() == {"kind": ["B2B"], "region": ["North", "South"]}


def test_segment_filter_uses_the_latest_grade() -> None:
    assert ids(ReportFilter(segment="value:high")) == ["b", "c"]
    assert ids(ReportFilter(segment="clv:high,low", kind="B2B")) == ["a", "b"]
    with pytest.raises(ValueError, match="SCORE:GRADE"):
        ReportFilter(segment="high")
    with pytest.raises(ValueError, match="needs the scores"):
        ReportFilter(segment="value:high").customer_ids(CUSTOMERS)


def test_apply_restricts_report_inputs() -> None:
    tx = pl.DataFrame({"customer_id": ["a", "b", "c"], "ts": [date(2024, 1, 1)] * 3, "amount": [1.0, 2.0, 4.0]})
    f = ReportFilter(kind="B2B")
    g = growth_accounting(f.apply(tx, f.customer_ids(CUSTOMERS)))
    assert float(g["end"][0]) == 3.0
    assert f.apply(tx, None).collect().height == 3
