"""A pilot's recommendation names a significant harm on a secondary outcome (issue 16: NPS −6.4%, p = 0.049)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cvm.experiments.report import PilotSpec, build_report

SPEC = PilotSpec(name="harm", arms={"control": 0.5, "treatment": 0.5}, control="control", primary="revenue",
                 window_days=30, segment_by=())  # fmt: skip
N = 4000


def simulated(revenue_effect: float, nps_effect: float, seed: int) -> pl.DataFrame:
    """Outcomes with known effects: the treatment adds ``revenue_effect`` and moves the mean NPS answer."""
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(N) < 0.5, "treatment", "control")
    treated = arm == "treatment"
    pre = rng.gamma(2.0, 50.0, N)
    revenue = 0.8 * pre + rng.normal(20, 30, N) + np.where(treated, revenue_effect, 0.0)
    nps = np.clip(rng.normal(7.5, 2.0, N) + np.where(treated, nps_effect, 0.0), 0, 10).round()
    return pl.DataFrame({
        "customer_id": [f"C{i}" for i in range(N)], "arm": arm, "revenue": revenue, "pre_revenue": pre,
        "margin": 0.3 * revenue, "pre_margin": 0.3 * pre, "retention": np.ones(N), "pre_retention": np.ones(N),
        "conversion": np.ones(N), "pre_conversion": np.zeros(N), "nps": nps, "pre_nps": np.full(N, np.nan),
        "mature": np.ones(N, dtype=bool),
    })  # fmt: skip


def test_a_winner_that_hurts_nps_is_rolled_out_only_with_the_harm_named() -> None:
    rec = build_report(SPEC, simulated(15.0, -0.5, 11))["recommendation"]
    assert rec["decision"] == "roll out"
    assert [(h["arm"], h["outcome"]) for h in rec["harms"]] == [("treatment", "nps")]
    harm = rec["harms"][0]
    assert harm["ci_high"] < 0
    assert harm["p_value"] < SPEC.alpha
    assert harm["lift"] == pytest.approx(-0.5 / 7.5, abs=0.025)  # the known harm, about −6.7%
    assert "lowers nps by −" in rec["reason"].replace("-", "−")
    assert "weigh it before rolling out" in rec["reason"]


def test_no_harm_is_claimed_without_one() -> None:
    rec = build_report(SPEC, simulated(15.0, 0.0, 12))["recommendation"]
    assert rec["decision"] == "roll out"
    assert rec["harms"] == []
    assert "harm" not in rec["reason"]


def test_keep_testing_still_names_a_harm_of_any_arm() -> None:
    rec = build_report(SPEC, simulated(0.0, -0.6, 13))["recommendation"]
    assert rec["decision"] == "keep testing"
    assert [h["outcome"] for h in rec["harms"]] == ["nps"]
    assert "Significant harm on a secondary outcome: treatment lowers nps" in rec["reason"]
