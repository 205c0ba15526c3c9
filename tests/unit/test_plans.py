"""Plans: triggers, step schedules with persisted waits, eligibility, expected value, and the batch path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest
import yaml

from cvm.config import ConfigError, Settings, load_settings, render_template
from cvm.config.plans import PlansConfig
from cvm.contracts.actions import Decision
from cvm.contracts.decisions import CustomerState, Event
from cvm.plans.batch import PlanBatch, run_batch
from cvm.plans.decide import decide, rank
from cvm.reporting.actions import held_kind

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def _state(attrs: dict[str, Any] | None = None, **kw: Any) -> CustomerState:
    base: dict[str, Any] = {"customer_id": "c1", "attributes": attrs or {}, "consents": {"email": True}}
    base.update(kw)
    return CustomerState(**base)


def _only(plan: dict[str, Any], **policy: Any) -> PlansConfig:
    """A configuration where only ``plan`` (called ``p``) runs, with no quiet hours."""
    off = {name: {"enabled": False} for name in ("welcome", "qualification", "contact")}
    return PlansConfig.model_validate(
        {"definitions": {**off, "p": plan}, "policy": {"quiet_hours": {"channels": []}, **policy}}
    )


def _step(**kw: Any) -> dict[str, Any]:
    return {"name": "s", "objective": "inform", "channel": "email", "propensity": "0.5", "value": "10", **kw}


def test_default_plans() -> None:
    plans = Settings().plans.definitions
    # issue 18: payment terms for early-warned customers, and the unprofitable plan for net CLV < 0
    assert set(plans) == {"welcome", "qualification", "contact", "payment_terms", "unprofitable"}
    assert [(s.day, s.objective) for s in plans["welcome"].steps] == [(0, "inform"), (7, "ask"), (30, "propose")]


def test_welcome_journey_with_persisted_waits() -> None:
    cfg = Settings().plans
    attrs = {"tenure_days": 0, "value": 300.0}
    sent: list[tuple[datetime, str, str]] = []
    state: dict[str, Any] = {}
    steps = []
    for day in (0, 3, 7, 30, 60):
        now = NOW + timedelta(days=day)
        d = decide(cfg, _state(attrs, contacts_sent=tuple(sent), plan_state=state), now)
        steps += [(day, a.step) for a in d.actions if a.plan == "welcome"]
        sent += [(a.not_before, a.channel, a.objective) for a in d.actions]
        state = dict(d.plan_state)
    assert steps == [(0, "inform"), (7, "ask"), (30, "propose")]
    assert state["welcome"]["status"] == "done"


def test_same_inputs_same_decision_and_stable_keys() -> None:
    cfg = Settings().plans
    s = _state({"tenure_days": 2, "value": 50.0})
    a, b = decide(cfg, s, NOW), decide(cfg, s, NOW)
    assert a == b
    later = decide(cfg, _state({"tenure_days": 2}, plan_state=a.plan_state), NOW + timedelta(days=7))
    assert later.actions[0].idempotency_key != a.actions[0].idempotency_key
    assert len(a.actions[0].idempotency_key) == 32


def test_event_trigger_with_a_condition_on_the_event() -> None:
    cfg = _only({"trigger": {"type": "event", "event": "complaint", "where": "severity = 'high'"},
                 "steps": [_step(objective="give", channel="crm_task")]})  # fmt: skip
    mild = Event("e1", "c1", "complaint", NOW, {"severity": "low"})
    severe = Event("e2", "c1", "complaint", NOW, {"severity": "high"})
    other = Event("e3", "c2", "complaint", NOW, {"severity": "high"})
    assert decide(cfg, _state(), NOW, [mild, other]).actions == ()
    (a,) = decide(cfg, _state(), NOW, [severe]).actions
    assert (a.plan, a.channel, a.objective) == ("p", "crm_task", "give")


def test_segment_enter_and_leave_triggers() -> None:
    enter = _only({"trigger": {"type": "segment_enter", "segment": "at_risk"}, "steps": [_step()]})
    leave = _only({"trigger": {"type": "segment_leave", "segment": "vip"}, "steps": [_step()]})
    entered = Event("e", "c1", "segment_entered", NOW, {"segment": "stage:at_risk"})
    left = Event("e", "c1", "segment_left", NOW, {"segment": "vip"})
    assert len(decide(enter, _state(), NOW, [entered]).actions) == 1
    assert decide(enter, _state(), NOW, [left]).actions == ()
    assert len(decide(leave, _state(), NOW, [left]).actions) == 1


@pytest.mark.parametrize(
    ("trigger", "yes", "no"),
    [
        ({"type": "score_crossing", "score": "churn", "above": 0.7}, {"churn": 0.8}, {"churn": 0.5}),
        ({"type": "score_crossing", "score": "p_alive", "below": 0.3}, {"p_alive": 0.1}, {"p_alive": None}),
        ({"type": "anniversary"}, {"days_to_anniversary": 0}, {"days_to_anniversary": 4}),
        ({"type": "renewal_due", "days": 30}, {"days_to_renewal": 20}, {"days_to_renewal": 45}),
        ({"type": "inactivity", "days": 90}, {"days_inactive": 120}, {"days_inactive": 10}),
        ({"type": "birthday", "days": 1}, {"days_to_birthday": 1}, {"days_to_birthday": None}),
        ({"type": "next_order_due", "days": 3}, {"is_regular_buyer": True, "days_to_next_order": -1},
         {"is_regular_buyer": False, "days_to_next_order": -1}),
        ({"type": "new_customer"}, {"tenure_days": 3}, {"tenure_days": 30}),
        ({"type": "condition", "when": "nps <= 6"}, {"nps": 3}, {"nps": 9}),
    ],
)  # fmt: skip
def test_attribute_triggers(trigger: dict[str, Any], yes: dict[str, Any], no: dict[str, Any]) -> None:
    cfg = _only({"trigger": trigger, "steps": [_step()]})
    assert len(decide(cfg, _state(yes), NOW).actions) == 1
    assert decide(cfg, _state(no), NOW).actions == ()


def test_reentry_waits_and_exit_ends_the_plan() -> None:
    cfg = _only({"trigger": {"type": "condition", "when": "stage = 'active'"}, "exit": "stage = 'lapsed'",
                 "reentry_days": 90, "steps": [_step()]})  # fmt: skip
    first = decide(cfg, _state({"stage": "active"}), NOW)
    assert first.plan_state["p"]["status"] == "done"
    soon = decide(cfg, _state({"stage": "active"}, plan_state=first.plan_state), NOW + timedelta(days=30))
    assert soon.actions == ()
    back = decide(cfg, _state({"stage": "active"}, plan_state=first.plan_state), NOW + timedelta(days=91))
    assert len(back.actions) == 1
    assert back.plan_state["p"]["enrolments"] == 2
    two = _only({"trigger": {"type": "condition", "when": "stage = 'active'"}, "exit": "stage = 'lapsed'",
                 "steps": [_step(), _step(name="t", day=10)]})  # fmt: skip
    started = decide(two, _state({"stage": "active"}), NOW)
    ended = decide(two, _state({"stage": "lapsed"}, plan_state=started.plan_state), NOW + timedelta(days=10))
    assert ended.actions == ()
    assert ended.plan_state["p"]["status"] == "exited"


def test_ineligible_steps_are_skipped_and_expired_steps_dropped() -> None:
    cfg = _only({"trigger": {"type": "condition", "when": "tenure_days >= 0"},
                 "steps": [_step(eligibility="kind = 'B2B'"), _step(name="t", expires_days=3)]})  # fmt: skip
    d = decide(cfg, _state({"tenure_days": 1, "kind": "B2C"}), NOW)
    assert [a.step for a in d.actions] == ["t"]
    assert [s.reason for s in d.suppressed] == ["not eligible: kind = 'B2B'"]
    stale = {"p": {"status": "active", "started": NOW.isoformat(), "step": 1, "due": NOW.isoformat()}}
    late = decide(cfg, _state({"tenure_days": 1}, plan_state=stale), NOW + timedelta(days=5))
    assert late.actions == ()
    assert late.suppressed[0].reason.startswith("expired")
    assert late.plan_state["p"]["status"] == "done"


def test_expected_value_and_minimum() -> None:
    cfg = _only({"trigger": {"type": "condition", "when": "true"},
                 "steps": [_step(propensity="0.1", value="coalesce(value, 0)", margin="0.5", cost=2.0)]},
                min_expected_value=1.0)  # fmt: skip
    (a,) = decide(cfg, _state({"value": 100.0}), NOW).actions
    assert a.expected_value == pytest.approx(0.1 * 100 * 0.5 - 2)
    assert a.reasons[1] == "expected value 3.00 = 0.1 × 100 × 0.5 − 2"
    low = decide(cfg, _state({"value": 10.0}), NOW)
    assert low.actions == ()
    assert low.suppressed[0].reason == "expected value below the minimum: -1.50 < 1.00"
    lower = decide(cfg, _state({"value": 5.0}), NOW)
    # the batch's summary counts the two under one reason, whatever their figures (not one line per value)
    batch = PlanBatch(NOW, 2, 2, [("C1", low), ("C2", lower)])
    assert batch.suppressed == {"expected value below the minimum": 2}
    assert held_kind(lower.suppressed[0].reason) == "min_value"


def test_rank_explains_the_choice() -> None:
    ranked = rank(Settings().plans, _state({"tenure_days": 50, "value": 500.0, "value_grade": "high",
                                             "stage": "qualification"}), NOW)  # fmt: skip
    assert ranked[0].chosen
    assert not any(r.chosen for r in ranked[1:])
    assert [r.plan for r in ranked] == ["qualification", "contact"]
    assert ranked[1].reasons[1].startswith("arbitration: qualification.ask_needs is worth more")


def test_bad_plan_expression_is_refused_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "cvm.yaml").write_text(
        yaml.safe_dump({"plans": {"definitions": {"welcome": {"steps": [
            {"name": "a", "objective": "inform", "channel": "email", "eligibility": "tenure_days > 'x'"}]}}}})
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"plans\.definitions\.welcome\.steps\.0\.eligibility: cannot mix"):
        load_settings(tmp_path, {})
    with pytest.raises(ValueError, match="unknown event 'complain'"):
        Settings.model_validate({"plans": {"definitions": {"x": {"trigger": {"type": "event", "event": "complain"},
                                                                 "steps": [_step()]}}}})  # fmt: skip


def test_template_example_loads(tmp_path: Path) -> None:
    text = render_template()
    assert "plans:" in text
    assert "segments:" in text
    (tmp_path / "cvm.yaml").write_text(text)
    settings = load_settings(tmp_path, {})
    assert settings.plans.definitions["welcome"].steps[0].channel == "email"


# -- the batch path decides exactly as the per-customer path -------------------------------------------------
def _base(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(n)],
            "tenure_days": rng.integers(0, 200, n),
            "value": rng.uniform(0, 500, n),
            "value_grade": rng.choice(["low", "medium", "high"], n),
            "stage": rng.choice(["new", "qualification", "active", "lapsed"], n),
            "kind": rng.choice(["B2B", "B2C"], n),
            "seg_vip": rng.random(n) < 0.2,
            "p_alive": rng.random(n),
            "open_complaint": rng.random(n) < 0.1,
            "consent_email": [None if r < 0.2 else bool(r < 0.7) for r in rng.random(n)],
            "timezone": rng.choice(["Europe/Paris", "UTC", "Asia/Tokyo"], n),
            "early_warning": [25.0 if r < 0.05 else None for r in rng.random(n)],  # issue 18: payment terms
            # the built-in unprofitable plan (issue 18): net CLV below zero for some, unknown for others
            "net_clv": [None if r < 0.1 else float(r * 400 - 100) for r in rng.random(n)],
            "cost_to_serve_12m": rng.uniform(0, 80, n),
            "active_subscriptions": rng.integers(0, 2, n),
        },
        strict=False,
    )


def test_batch_equals_deciding_for_every_customer() -> None:
    cfg = Settings().plans
    base = _base(400, 3)
    rng = np.random.default_rng(4)
    states: dict[str, dict[str, Any]] = {}
    for cid in base["customer_id"].to_list()[::3]:
        started = NOW - timedelta(days=int(rng.integers(0, 120)))
        states[cid] = {"contact": {"status": str(rng.choice(["active", "done"])), "started": started.isoformat(),
                                   "step": 1, "due": (started + timedelta(days=20)).isoformat()}}  # fmt: skip
    con = duckdb.connect()
    con.register("base_frame", base.to_arrow())
    con.execute("CREATE TABLE segmented AS SELECT * FROM base_frame")
    batch = run_batch(con, cfg, NOW, "segmented", states)
    got = dict(batch.decisions)
    assert 0 < batch.candidates < base.height
    for row in base.to_dicts():
        cid = row["customer_id"]
        consents = {"email": row["consent_email"]} if row["consent_email"] is not None else {}
        state = CustomerState(cid, row, consents, row["timezone"], (), row["open_complaint"], states.get(cid, {}))
        d: Decision = decide(cfg, state, NOW)
        if d.actions or d.suppressed or d.plan_state != states.get(cid, {}):
            assert got.get(cid) == d, cid
        else:
            assert cid not in got


def test_worker_processes_give_the_same_decisions(monkeypatch: pytest.MonkeyPatch) -> None:
    from cvm.plans import parallel
    from cvm.plans.parallel import decide_all, state_of

    cfg = Settings().plans
    rows = _base(300, 5).to_dicts()
    events = {"c0001": [Event("e1", "c0001", "segment_entered", NOW, {"segment": "vip"})]}
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 10)
    monkeypatch.setattr(parallel, "CHUNK", 100)
    serial = decide_all(cfg, rows, NOW, {}, {}, events, workers=1)
    parallel_ = decide_all(cfg, rows, NOW, {}, {}, events, workers=2)
    assert serial == parallel_
    assert state_of(rows[0], (), {}).customer_id == "c0000"
