"""The policy service on a real workspace: the reader of the offline log, the ground truth, the compare shape."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from cvm.engine import Engine
from cvm.errors import BadValueError
from cvm.experiments import ope, ope_sim
from cvm.experiments.ope_log import LOG_TABLE, read_log
from cvm.experiments.ope_report import NoLogError, compare_json, find_truth
from cvm.experiments.policies import policy_named
from cvm.scoring.uplift_values import component_outcomes
from tests.decision_logs import log_frames, write_simulated_log, write_table


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine.init(tmp_path / "ws")


def test_compare_with_a_ground_truth_gives_the_true_value_inside_or_near_the_interval(engine: Engine) -> None:
    records, outcomes = write_simulated_log(engine, 2_000, seed=5)
    result = engine.policy.compare(truth=ope_sim.SimulatedTruth())
    shaped = compare_json(result)
    json.dumps(shaped, allow_nan=False)
    by = {p["name"]: p for p in shaped["policies"]}
    assert by["none"]["true_value"] == 0.0
    # the truth on these very decisions: Σ over decisions of μ(x, policy's action) − μ(x, none), per 1,000
    data, kept = ope.bandit_from_log(records, {o.decision_id: o for o in outcomes})
    for name in ("propensity", "incremental"):
        target = ope.target_matrix(policy_named(name), kept, data.actions)
        gain = [[ope_sim.true_margin(r.context, a) - ope_sim.true_margin(r.context, "none") for a in data.actions]
                for r in kept]  # fmt: skip
        by_hand = float((target * np.array(gain)).sum(axis=1).mean())
        assert by[name]["true_value"] == pytest.approx(1000 * by_hand)
        est = by[name]["estimate"]
        width = est["ci_high"] - est["ci_low"]
        assert est["ci_low"] - width / 2 < by[name]["true_value"] < est["ci_high"] + width / 2
    assert by["incremental"]["true_value"] > by["propensity"]["true_value"]
    # the paired differences against the propensity policy, on the same decisions
    versus = {p["name"]: p for p in result["versus"]}
    assert set(versus) == {"incremental", "current"}
    pair = versus["incremental"]
    assert pair["versus"] == "propensity"
    assert pair["true_value"] == pytest.approx(by["incremental"]["true_value"] - by["propensity"]["true_value"])
    est = pair["estimate"]["dr"]
    assert est["ci_low"] <= pair["true_value"] <= est["ci_high"]
    # narrower than the two separate intervals side by side
    assert est["ci_high"] - est["ci_low"] < (
        by["incremental"]["estimate"]["ci_high"] - by["incremental"]["estimate"]["ci_low"]
    )
    assert pair["verdict"] in {"more", "unsure"}
    assert (pair["decisions_needed"] is None) == (pair["verdict"] != "unsure")
    assert pair["contacts"] == pytest.approx(by["incremental"]["contacts"] - by["propensity"]["contacts"])
    json.dumps(result, allow_nan=False)


def test_the_reader_names_a_bad_row_and_field(engine: Engine) -> None:
    records, outcomes = ope_sim.simulated_log(np.random.default_rng(1), 3)
    log, out = log_frames(records, outcomes)
    write_table(engine, LOG_TABLE, log)
    write_table(engine, "decision_outcomes", out)
    got, by_id = read_log(engine.offline)
    assert got == records
    assert set(by_id) == {r.decision_id for r in records}
    broken = log_frames(records[:1], [])[0].with_columns(decision_id=pl.lit("X"), candidates=pl.lit("[{not json"))
    write_table(engine, LOG_TABLE, broken)
    with pytest.raises(BadValueError, match="field 'candidates'"):
        read_log(engine.offline)


def test_no_log_is_a_clear_error_and_no_truth_outside_a_demo_workspace(engine: Engine) -> None:
    with pytest.raises(NoLogError, match="run `cvm run` with exploration on"):
        engine.policy.compare()
    assert find_truth(engine.workspace) is None
    records, _ = ope_sim.simulated_log(np.random.default_rng(2), 5)
    write_table(engine, LOG_TABLE, log_frames(records, [])[0])  # decisions logged, no outcome measured yet
    with pytest.raises(NoLogError, match="5 decisions logged but only 0 eligible with an outcome yet"):
        engine.policy.evaluate("incremental")


def _events_log(engine: Engine, n: int, seed: int) -> list[Any]:
    """The simulated log with events: any action lifts conversion from 20% to 50%; a conversion is worth 25; the
    realised margin is that minus the contact's cost plus spend noise (sd 400) that no attribute predicts."""
    rng = np.random.default_rng(seed)
    records, outcomes = ope_sim.simulated_log(rng, n)
    drawn = []
    for r, o in zip(records, outcomes, strict=True):
        converted = bool(rng.random() < (0.2 if r.chosen == "none" else 0.5))
        margin = 25.0 * converted - r.chosen_cost + rng.normal(0.0, 400.0)
        drawn.append(replace(o, margin=margin, converted=converted))
    log, out = log_frames(records, drawn)
    write_table(engine, LOG_TABLE, log)
    write_table(engine, "decision_outcomes", out)
    return records


def test_the_components_reward_is_the_valued_events_minus_the_contact_cost_by_hand(engine: Engine) -> None:
    records, outcomes = ope_sim.simulated_log(np.random.default_rng(3), 40)
    first = next(r for r in records if r.chosen != "none")
    flagged = {o.decision_id: replace(o, converted=o.decision_id == first.decision_id, churned=True) for o in outcomes}
    values = {"converted": "25", "churned": "-100", "defaulted": "-7", "complained": "0", "unsubscribed": "0"}
    got = component_outcomes(records, flagged, values)
    assert got[first.decision_id].margin == pytest.approx(25.0 - 100.0 - first.chosen_cost)
    other = next(r for r in records if r.chosen == "none")
    assert got[other.decision_id].margin == -100.0
    assert got[other.decision_id].churned
    assert got[other.decision_id].customer_id == other.customer_id


def test_policy_evaluation_on_the_valued_events_sees_through_spend_noise(engine: Engine) -> None:
    """The same decisions, rewarded by the realised margin (noise sd 400) or by the valued events: both are
    unbiased here, and the events' interval is many times narrower."""
    records = _events_log(engine, 3_000, seed=8)
    engine.ws.settings.plans.uplift.values.converted = "25"
    by = {}
    for outcome in ("margin", "components"):
        result = engine.policy.evaluate("propensity", outcome=outcome)  # type: ignore[arg-type]
        assert result["outcome"] == outcome
        by[outcome] = result["incremental"]["dr"]
    width = {k: v["ci_high"] - v["ci_low"] for k, v in by.items()}
    assert width["components"] < width["margin"] / 5
    # the truth: each action adds 0.3 × 25 minus its contact's cost, no action adds 0
    _records, outcomes = read_log(engine.offline)
    data, kept = ope.bandit_from_log(records, outcomes)
    target = ope.target_matrix(policy_named("propensity"), kept, data.actions)
    cost = [[next((c.cost for c in r.candidates if c.action == a), 0.0) for a in data.actions] for r in kept]
    gain = np.where(np.array(data.actions) == "none", 0.0, 0.3 * 25.0 - np.array(cost))
    truth = 1000 * float((target * gain).sum(axis=1).mean())
    assert by["components"]["ci_low"] < truth < by["components"]["ci_high"]
