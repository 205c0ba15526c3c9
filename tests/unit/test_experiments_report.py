"""A pilot's outcomes from the hub tables, its report and recommendation, and pilots kept in cvm.yaml."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

from cvm.config import ConfigError, load_settings, render_template
from cvm.engine import Engine
from cvm.experiments.outcomes import pilot_outcomes
from cvm.experiments.report import PilotSpec, build_report
from cvm.experiments.service import _insert_pilot, create_pilot
from cvm.experiments.stats import holm
from tests.conftest import CUSTOMERS_CSV, write

T0 = datetime(2024, 3, 1, tzinfo=UTC)
TRANSACTIONS = """transaction_id,customer_id,ts,amount,margin,product
T1,C1,2024-02-01T10:00:00Z,100.00,30.00,hardware
T2,C1,2024-03-01T10:00:00Z,50.50,15.00,supplies
T3,C2,2024-03-05T09:30:00+01:00,1200,300,services
T4,C3,2024-04-01,-20,-5,hardware
"""
SUBSCRIPTIONS = """subscription_id,customer_id,product,start,end,mrr,end_reason
S1,C2,basic,2024-02-15,,30.44,
S2,C3,basic,2024-01-01,2024-02-20,10,too_expensive
"""
SURVEYS = """customer_id,ts,nps,would_recommend,did_recommend
C1,2024-03-10T12:00:00Z,9,true,false
C2,2024-02-10T12:00:00Z,3,false,false
"""


@pytest.fixture
def hub(engine: Engine, tmp_path: Path) -> Engine:
    for table, text in (("customers", CUSTOMERS_CSV), ("transactions", TRANSACTIONS),
                        ("subscriptions", SUBSCRIPTIONS), ("surveys", SURVEYS)):  # fmt: skip
        assert engine.ingest(table, write(tmp_path / f"{table}.csv", text)).ok
    return engine


def _assigned(*ids: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"customer_id": list(ids), "arm": ["a"] * len(ids), "assigned_at": [T0] * len(ids)},
        schema={"customer_id": pl.Utf8, "arm": pl.Utf8, "assigned_at": pl.Datetime("us", "UTC")},
    )


def test_outcomes_from_the_hub_by_hand(hub: Engine) -> None:
    out = pilot_outcomes(hub.offline, _assigned("C1", "C2", "C3"), 30, datetime(2024, 4, 15, tzinfo=UTC), "supplies")
    rows = {r["customer_id"]: r for r in out.to_dicts()}
    c1, c2, c3 = rows["C1"], rows["C2"], rows["C3"]
    # C1: one purchase in (t0, t0+30d] and one in the 30 days before; an NPS answer in the window
    assert (c1["revenue"], c1["margin"], c1["retention"], c1["conversion"], c1["nps"]) == (50.5, 15.0, 1.0, 1.0, 9.0)
    assert (c1["pre_revenue"], c1["pre_margin"], c1["pre_conversion"], c1["pre_nps"]) == (100.0, 30.0, 0.0, None)
    # C2: 1,200 of services plus 30 days of a 30.44 MRR contract (margin at 30% of recurring revenue)
    assert c2["revenue"] == pytest.approx(1230.0)
    assert c2["margin"] == pytest.approx(309.0)
    assert c2["pre_revenue"] == pytest.approx(15.0)
    assert c2["pre_nps"] == 3.0
    assert c2["conversion"] == 0.0
    # C3: the contract ended before the window and the refund came after it: churned
    assert (c3["revenue"], c3["retention"]) == (0.0, 0.0)
    assert c3["pre_revenue"] == pytest.approx(10 * 20 / 30.44)
    assert c3["pre_retention"] == 0.0
    assert out["mature"].all()
    assert out["kind"].to_list() == ["B2C", "B2B", "B2B"]
    early = pilot_outcomes(hub.offline, _assigned("C1"), 30, datetime(2024, 3, 20, tzinfo=UTC))
    assert early["mature"].to_list() == [False]
    assert early["conversion"].to_list() == [1.0]  # any purchase counts without a product


# -- the report ---------------------------------------------------------------------------------------------
SPEC = PilotSpec(name="t", arms={"control": 0.5, "treatment": 0.5}, control="control", holdout=["control"],
                 primary="revenue", window_days=30, segment_by=["kind"])  # fmt: skip


def _frame(n: int, effect: float, seed: int, treated_share: float = 0.5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < treated_share, "treatment", "control")
    pre = rng.gamma(2.0, 50.0, n)
    revenue = 0.8 * pre + rng.normal(20, 30, n) + np.where(arm == "treatment", effect, 0.0)
    retained = (rng.random(n) < 0.8).astype(float)
    return pl.DataFrame({
        "customer_id": [f"C{i}" for i in range(n)], "arm": arm, "revenue": revenue, "pre_revenue": pre,
        "margin": 0.3 * revenue, "pre_margin": 0.3 * pre, "retention": retained, "pre_retention": np.ones(n),
        "conversion": retained, "pre_conversion": np.zeros(n), "nps": rng.integers(0, 11, n).astype(float),
        "pre_nps": np.full(n, np.nan), "kind": rng.choice(["B2B", "B2C"], n), "mature": np.ones(n, dtype=bool),
    })  # fmt: skip


def test_report_rolls_out_a_clear_winner(tmp_path: Path) -> None:
    report = build_report(SPEC, _frame(4000, 15.0, 1), {"treatment": 100.0})
    assert report["recommendation"]["decision"] == "roll out"
    assert report["recommendation"]["arm"] == "treatment"
    revenue = next(r for r in report["outcomes"] if r["outcome"] == "revenue")
    assert revenue["cuped"]["variance_reduction"] > 0.5
    assert revenue["cuped"]["diff_ci_low"] < 15.0 < revenue["cuped"]["diff_ci_high"]
    assert revenue["sequential"]["ci_low"] < revenue["cuped"]["diff_ci_low"]
    value = report["value"][0]
    n_treated = report["arms"][1]["mature"]
    assert value["incremental_revenue"] == pytest.approx(revenue["cuped"]["diff"] * n_treated)
    assert value["net"] == pytest.approx(value["incremental_margin"] - 100.0)
    raw = [s["diff_p_value"] for s in report["segments"]]
    assert [s["p_adjusted"] for s in report["segments"]] == pytest.approx(holm(raw))
    assert {s["segment"] for s in report["segments"]} == {"B2B", "B2C"}
    assert report["srm"]["mismatch"] is False


@pytest.mark.parametrize(
    ("frame", "costs", "decision", "words"),
    [
        (_frame(4000, -15.0, 2), {}, "stop", "lowers revenue"),
        (_frame(4000, 0.0, 3, treated_share=0.6), {}, "stop", "sample-ratio mismatch"),
        (_frame(4000, 0.0, 8), {}, "keep testing", "customers per arm"),
        (_frame(30, 15.0, 5), {}, "keep testing", "too few customers"),
        (_frame(4000, 3.0, 6), {"treatment": 1e6}, "stop", "does not pay"),
    ],
)
def test_recommendations(frame: pl.DataFrame, costs: dict[str, float], decision: str, words: str) -> None:
    rec = build_report(SPEC, frame, costs)["recommendation"]
    assert rec["decision"] == decision, rec
    assert words in rec["reason"]


# -- pilots in cvm.yaml ----------------------------------------------------------------------------------------
def test_insert_pilot_keeps_the_comments() -> None:
    text = render_template()
    added = _insert_pilot(text, "trial", {"plan": "contact", "step": "news"})
    assert added.count("#") == text.count("#")
    assert yaml.safe_load(added)["experiments"]["pilots"] == {"trial": {"plan": "contact", "step": "news"}}
    twice = _insert_pilot(added, "second", {"plan": "welcome"})
    assert set(yaml.safe_load(twice)["experiments"]["pilots"]) == {"trial", "second"}
    bare = _insert_pilot("store: {offline: duckdb}\n", "x", {"plan": "welcome"})
    assert yaml.safe_load(bare)["experiments"]["pilots"]["x"] == {"plan": "welcome"}


def test_create_pilot_validates_and_restores(workspace: Path) -> None:
    before = (workspace / "cvm.yaml").read_text()
    arms = {"control": {"share": 0.5, "holdout": True}, "call": {"share": 0.5, "channel": "phone"}}
    pilot: dict[str, Any] = {"plan": "contact", "step": "account_review", "primary": "retention", "arms": arms}
    settings = create_pilot(workspace, "review_call", pilot)
    assert settings.experiments.pilots["review_call"].arms["call"].channel == "phone"
    assert load_settings(workspace).experiments.pilots["review_call"].primary == "retention"
    with pytest.raises(ValueError, match="already exists"):
        create_pilot(workspace, "review_call", pilot)
    after = (workspace / "cvm.yaml").read_text()
    with pytest.raises(ConfigError, match="already tested"):
        create_pilot(workspace, "other", {"plan": "contact"})
    with pytest.raises(ConfigError, match="add up to 1"):
        create_pilot(workspace, "shares", {"plan": "welcome", "arms": {"a": {"share": 0.7}, "b": {"share": 0.7}}})
    assert (workspace / "cvm.yaml").read_text() == after != before
