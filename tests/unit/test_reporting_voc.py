"""Voice of the customer on hand-made surveys."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from cvm.reporting import nps_score, segment_of, voc


def at(month: int, day: int = 5) -> datetime:
    return datetime(2024, month, day, 9, tzinfo=UTC)


SURVEYS = pl.DataFrame(
    {
        "customer_id": ["c1", "c2", "c3", "c4", "c5", "c1", "c2"],
        "ts": [at(1), at(1), at(1), at(1), at(1), at(2), at(2)],
        "nps": [10, 9, 7, 3, None, 6, 0],
        "would_recommend": [True, True, False, False, True, False, None],
        "did_recommend": [True, None, False, False, None, None, None],
    },
    schema_overrides={"nps": pl.Int64},
)
CUSTOMERS = pl.DataFrame(
    {
        "customer_id": ["c1", "c2", "c3", "c4", "c5"],
        "kind": ["B2B", "B2C", "B2B", "B2C", "B2C"],
        "channel": ["direct"] * 5,
        "region": ["N"] * 5,
        "sector": [None] * 5,
    }
)


def test_nps_score_definition() -> None:
    assert nps_score(2, 1, 1) == 25.0
    assert nps_score(0, 0, 3) == -100.0
    assert nps_score(0, 0, 0) is None


def test_voc_by_month() -> None:
    rows = voc(SURVEYS, "M").to_dicts()
    jan, feb = rows
    # Jan: 4 NPS answers (c5 skipped it): promoters c1 c2, passive c3, detractor c4 -> NPS 50 - 25 = 25.
    assert (jan["responses"], jan["promoters"], jan["passives"], jan["detractors"]) == (4, 2, 1, 1)
    assert (jan["pct_promoters"], jan["pct_passives"], jan["pct_detractors"], jan["nps"]) == (50.0, 25.0, 25.0, 25.0)
    # Would recommend: 5 answers, 3 yes = 60%; did recommend: 3 answers (c1 yes, c3 no, c4 no) = 33.3%.
    assert (jan["would_recommend_answers"], jan["pct_would_recommend"]) == (5, 60.0)
    assert jan["did_recommend_answers"] == 3
    assert jan["pct_did_recommend"] == pytest.approx(100 / 3)
    # Feb: two detractors (6 and 0) -> NPS -100; one would-recommend answer (no); no did-recommend answer.
    assert (feb["period"], feb["responses"], feb["nps"], feb["pct_would_recommend"]) == ("2024-02", 2, -100.0, 0.0)
    assert feb["pct_did_recommend"] is None


def test_voc_by_segment_over_all_time() -> None:
    table = voc(SURVEYS, None, segment_of(CUSTOMERS, None, "kind"))
    got = {r["segment"]: (r["responses"], r["nps"]) for r in table.to_dicts()}
    # B2B: c1 10, c3 7, c1 6 -> P1 Pa1 D1 -> 0. B2C: c2 9, c4 3, c2 0 -> P1 D2 -> (1 - 2) / 3 = -33.3.
    assert got["B2B"] == (3, 0.0)
    assert got["B2C"][0] == 3
    assert got["B2C"][1] == pytest.approx(-100 / 3)
    assert table.columns[0] == "segment"
    by_month = voc(SURVEYS, "Q", segment_of(CUSTOMERS, None, "kind"))
    assert by_month.columns[:3] == ["period", "period_start", "segment"]
    unknown = voc(SURVEYS, None, segment_of(CUSTOMERS, None, "sector"))
    assert unknown["segment"].to_list() == ["(unknown)"]


def test_unknown_segment_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown segment"):
        segment_of(CUSTOMERS, None, "colour")
