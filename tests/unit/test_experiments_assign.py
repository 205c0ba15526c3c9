"""Assignment: the bucket hash, arms, the global holdout and pilot arms inside the pure decision."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pytest
from scipy import stats as st

from cvm.config import ConfigError, Settings
from cvm.config.plans import PlansConfig
from cvm.config.settings import ExperimentsSettings
from cvm.contracts.decisions import CustomerState
from cvm.experiments.assign import STATE_KEY, arm_for, bucket, existing, from_state, in_global_holdout
from cvm.plans.batch import run_batch
from cvm.plans.decide import decide, rank
from tests.unit.test_plans import _base

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
IDS = [f"c{i:04d}" for i in range(400)]


def test_bucket_is_the_documented_hash() -> None:
    digest = hashlib.sha256(b"winback_call:C0000001").digest()
    assert bucket("winback_call", "C0000001") == int.from_bytes(digest[:8], "big") % 10_000
    assert bucket("a", "C1") != bucket("b", "C1") or bucket("a", "C2") != bucket("b", "C2")


def test_buckets_are_uniform_and_arms_follow_the_shares() -> None:
    buckets = np.array([bucket("pilot", f"C{i}") for i in range(50_000)])
    counts = np.bincount(buckets // 1000, minlength=10)
    assert st.chisquare(counts).pvalue > 0.001
    arms = [arm_for(int(b), [("control", 0.2), ("a", 0.3), ("b", 0.5)]) for b in buckets]
    shares = {a: arms.count(a) / len(arms) for a in ("control", "a", "b")}
    assert shares == pytest.approx({"control": 0.2, "a": 0.3, "b": 0.5}, abs=0.01)
    assert arm_for(1999, [("control", 0.2), ("a", 0.8)]) == "control"
    assert arm_for(2000, [("control", 0.2), ("a", 0.8)]) == "a"
    assert np.mean([in_global_holdout(f"C{i}", 0.05) for i in range(20_000)]) == pytest.approx(0.05, abs=0.005)
    assert not any(in_global_holdout(f"C{i}", 0.0) for i in range(1000))


# -- inside the decision ------------------------------------------------------------------------------------
def _plans(**step: Any) -> PlansConfig:
    off = {name: {"enabled": False} for name in ("welcome", "qualification", "contact")}
    plan = {
        "trigger": {"type": "condition", "when": "tenure_days < 30"},
        "steps": [
            {"name": "hello", "objective": "inform", "channel": "email", "propensity": "0.5", "value": "10", **step},
            {"name": "later", "day": 10, "objective": "inform", "channel": "email", "propensity": "0.5", "value": "10"},
        ],
    }
    return PlansConfig.model_validate(
        {"definitions": {**off, "p": plan}, "policy": {"quiet_hours": {"channels": []}, "caps": {}}}
    )


def _experiments(**pilot: Any) -> ExperimentsSettings:
    return ExperimentsSettings.model_validate({"pilots": {"t": {"plan": "p", "step": "hello", **pilot}}})


def _state(cid: str, plan_state: dict[str, Any] | None = None, **consents: bool) -> CustomerState:
    return CustomerState(cid, {"tenure_days": 1}, {"email": True, **consents}, "UTC", (), False, plan_state or {})


def test_controls_are_suppressed_as_holdout_and_both_arms_are_recorded() -> None:
    cfg, exp = _plans(), _experiments()
    seen = {"control": 0, "treatment": 0}
    for cid in IDS[:100]:
        d = decide(cfg, _state(cid), NOW, (), exp)
        arm = arm_for(bucket("t", cid), [("control", 0.5), ("treatment", 0.5)])
        seen[arm] += 1
        assert [(a.experiment, a.arm, a.bucket, a.assigned_at, a.plan, a.step) for a in d.assignments] == [
            ("t", arm, bucket("t", cid), NOW, "p", "hello")
        ]
        assert existing(d.plan_state) == {"t": arm}
        assert d.plan_state["p"]["step"] == 1  # both arms move on: controls follow the same schedule
        if arm == "control":
            assert not d.actions
            assert [s.reason for s in d.suppressed] == ["holdout:t"]
        else:
            assert [a.step for a in d.actions] == ["hello"]
            assert "pilot t: arm treatment" in d.actions[0].reasons
    assert min(seen.values()) > 30


def test_an_assignment_is_never_changed_and_is_made_once() -> None:
    cfg = _plans()
    cid = next(c for c in IDS if arm_for(bucket("t", c), [("control", 0.5), ("treatment", 0.5)]) == "control")
    first = decide(cfg, _state(cid), NOW, (), _experiments())
    # everyone would be treated now, but the customer keeps the recorded arm
    all_treated = _experiments(arms={"control": {"share": 0.01, "holdout": True}, "treatment": {"share": 0.99}})
    state = dict(first.plan_state)
    state.pop("p")  # enrol again, as if re-entering
    again = decide(cfg, _state(cid, state), NOW, (), all_treated)
    assert again.assignments == ()
    assert [s.reason for s in again.suppressed] == ["holdout:t"]
    assert [a.arm for a in from_state(cid, again.plan_state)] == ["control"]


def test_the_pilot_waits_for_the_plan_to_act() -> None:
    cfg, exp = _plans(eligibility="tenure_days > 5"), _experiments()
    d = decide(cfg, _state("c0001"), NOW, (), exp)
    assert d.assignments == ()
    assert STATE_KEY not in d.plan_state
    closed = _experiments(start=(NOW + timedelta(days=3)).date().isoformat())
    assert decide(_plans(), _state("c0001"), NOW, (), closed).assignments == ()


def test_variants_override_channel_offer_and_caps() -> None:
    cfg = _plans()
    arms = {
        "control": {"share": 0.34, "holdout": True},
        "call": {"share": 0.33, "channel": "phone", "offer": "loyalty", "action": "am_call"},
        "quiet": {"share": 0.33, "caps": {"all": {"month": 0}}},
    }
    exp = _experiments(arms=arms)
    shares = [(k, v["share"]) for k, v in arms.items()]
    by_arm: dict[str, list[str]] = {}
    for cid in IDS[:60]:
        by_arm.setdefault(arm_for(bucket("t", cid), shares), []).append(cid)
    call = decide(cfg, _state(by_arm["call"][0], phone=True), NOW, (), exp)
    assert [(a.channel, a.offer, a.action) for a in call.actions] == [("phone", "loyalty", "am_call")]
    quiet = decide(cfg, _state(by_arm["quiet"][0], phone=True), NOW, (), exp)
    assert not quiet.actions
    assert quiet.suppressed[0].reason.startswith("cap: all/month cap 0")
    # without phone consent a customer cannot be in every arm: outside the pilot, the plan's own step
    outside = decide(cfg, _state(by_arm["call"][0]), NOW, (), exp)
    assert outside.assignments == ()
    assert [a.channel for a in outside.actions] == ["email"]


def test_global_holdout_blocks_marketing_but_not_service() -> None:
    exp = ExperimentsSettings(holdout_share=0.5)
    held = next(c for c in IDS if in_global_holdout(c, 0.5))
    kept = next(c for c in IDS if not in_global_holdout(c, 0.5))
    d = decide(_plans(), _state(held), NOW, (), exp)
    assert not d.actions
    assert [s.reason for s in d.suppressed] == ["holdout:global"]
    assert [(a.experiment, a.arm) for a in d.assignments] == [("global", "holdout")]
    assert [(a.experiment, a.arm) for a in decide(_plans(), _state(kept), NOW, (), exp).assignments] == [
        ("global", "contacted")
    ]
    service = decide(_plans(kind="service"), _state(held), NOW, (), exp)
    assert [a.step for a in service.actions] == ["hello"]
    assert service.assignments == ()
    assert any(r.reasons[-1] == "holdout:global" for r in rank(_plans(), _state(held), NOW, exp))


def test_no_experiments_no_change() -> None:
    for cid in IDS[:50]:
        plain = decide(_plans(), _state(cid), NOW)
        assert decide(_plans(), _state(cid), NOW, (), ExperimentsSettings()) == plain
        assert plain.assignments == ()


def test_pilot_configuration_is_checked_against_the_plans() -> None:
    ok = Settings.model_validate({"experiments": {"pilots": {"t": {"plan": "contact", "step": "news"}}}})
    assert ok.experiments.pilots["t"].arms["control"].holdout
    bad = [
        ({"t": {"plan": "nope"}}, "unknown plan"),
        ({"t": {"plan": "contact", "step": "nope"}}, "has no step"),
        ({"t": {"plan": "contact", "arms": {"a": {"share": 0.5}, "b": {"share": 0.6}}}}, "add up to 1"),
        ({"t": {"plan": "contact", "control": "x"}}, "control arm"),
        ({"a": {"plan": "contact"}, "b": {"plan": "contact", "step": "news"}}, "already tested"),
        ({"global": {"plan": "contact"}}, "reserved"),
    ]
    for pilots, message in bad:
        with pytest.raises((ConfigError, ValueError), match=message):
            Settings.model_validate({"experiments": {"pilots": pilots}})


# -- batch and real time decide the same ---------------------------------------------------------------------
def _batch_vs_decide(experiments: ExperimentsSettings, states: dict[str, dict[str, Any]]) -> int:
    cfg = Settings().plans
    base = _base(400, 3)
    con = duckdb.connect()
    con.register("base_frame", base.to_arrow())
    con.execute("CREATE TABLE segmented AS SELECT * FROM base_frame")
    got = dict(run_batch(con, cfg, NOW, "segmented", states, experiments=experiments).decisions)
    assigned = 0
    for row in base.to_dicts():
        cid = row["customer_id"]
        consents = {"email": row["consent_email"]} if row["consent_email"] is not None else {}
        state = CustomerState(cid, row, consents, row["timezone"], (), row["open_complaint"], states.get(cid, {}))
        d = decide(cfg, state, NOW, (), experiments)
        assigned += len(d.assignments)
        if d.actions or d.suppressed or d.plan_state != states.get(cid, {}):
            assert got.get(cid) == d, cid
        else:
            assert cid not in got
    return assigned


def test_batch_equals_deciding_for_every_customer_with_pilots() -> None:
    exp = Settings.model_validate(
        {"experiments": {"holdout_share": 0.1, "pilots": {"news": {"plan": "contact", "step": "news"}}}}
    ).experiments
    done = {"news": {"arm": "control", "bucket": 1, "at": NOW.isoformat(), "plan": "contact", "step": "news"}}
    states = {f"c{i:04d}": {STATE_KEY: done} for i in range(0, 400, 7)}
    assert _batch_vs_decide(exp, states) > 20


def test_worker_processes_give_the_same_decisions_with_pilots(monkeypatch: pytest.MonkeyPatch) -> None:
    from cvm.plans import parallel
    from cvm.plans.parallel import decide_all

    exp = ExperimentsSettings(holdout_share=0.2)
    rows = _base(300, 5).to_dicts()
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 10)
    monkeypatch.setattr(parallel, "CHUNK", 100)
    serial = decide_all(Settings().plans, rows, NOW, {}, {}, {}, 1, exp)
    assert serial == decide_all(Settings().plans, rows, NOW, {}, {}, {}, 2, exp)
    assert any(d.assignments for _c, d in serial)
