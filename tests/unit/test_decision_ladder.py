"""The decision record and the holdout ladder inside the pure decision (issue 18, items 1 and 2).

The logged probability is the true selection probability: replaying the policy over many simulated
customers reproduces every choice exactly, and each action's empirical selection frequency lies in a
binomial confidence interval of the logged probability.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from cvm.config.plans import PlansConfig
from cvm.config.settings import ExperimentsSettings
from cvm.contracts.decisionlog import NO_ACTION, DecisionRecord
from cvm.contracts.decisions import CustomerState, Event
from cvm.contracts.learned import Learned
from cvm.experiments.assign import BUCKETS, bucket
from cvm.plans.decide import decide
from cvm.plans.explore import draw, thompson_shares, uniform
from cvm.plans.pilots import plan_key

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def _plans(k: int, kinds: tuple[str, ...] = ()) -> PlansConfig:
    """``k`` plans, each with one marketing e-mail due now; plan ``p0`` is worth most."""
    off = {name: {"enabled": False} for name in ("welcome", "qualification", "contact")}
    plans = {
        f"p{i}": {
            "trigger": {"type": "condition", "when": "tenure_days < 30"},
            "steps": [
                {
                    "name": "offer",
                    "objective": "inform",
                    "channel": "email",
                    "propensity": f"{0.9 - 0.1 * i:.1f}",
                    "value": "10",
                    "kind": kinds[i] if i < len(kinds) else "marketing",
                }
            ],
        }
        for i in range(k)
    }
    policy = {"quiet_hours": {"channels": []}, "caps": {}}
    return PlansConfig.model_validate({"definitions": {**off, **plans}, "policy": policy})


def _state(cid: str, **attrs: Any) -> CustomerState:
    return CustomerState(cid, {"tenure_days": 2, **attrs}, consents={"email": True})


def _exp(exploration: float = 0.0, holdout: float = 0.0, **ladder: Any) -> ExperimentsSettings:
    return ExperimentsSettings.model_validate(
        {"holdout_share": holdout, "ladder": {"exploration": exploration, **ladder}}
    )


def test_a_decision_logs_its_candidates_choice_probability_and_versions() -> None:
    d = decide(_plans(2), _state("c1", spend=12.5), NOW, (), _exp())
    rec = d.record
    assert rec is not None
    assert [c.action for c in rec.candidates] == ["p0.offer", "p1.offer"]
    first = rec.candidates[0]
    assert (first.propensity, first.value, first.margin, first.cost) == (0.9, 10.0, 1.0, first.cost)
    assert first.ev_propensity == pytest.approx(0.9 * 10 - first.cost)
    assert rec.chosen == "p0.offer" == f"{d.actions[0].plan}.{d.actions[0].step}"
    assert (rec.probability, rec.rung, rec.path, rec.arbitration) == (1.0, "exploit", "batch", "propensity")
    assert len(rec.policy_version) == 12
    assert rec.context == {"tenure_days": 2.0}  # the numeric attributes the plans read, nothing else
    assert DecisionRecord.from_dict(rec.to_dict()) == rec


def test_no_candidate_no_record_and_the_policy_version_follows_the_configuration() -> None:
    assert decide(_plans(1), _state("c1", tenure_days=90), NOW).record is None
    a = decide(_plans(1), _state("c1"), NOW, (), _exp(0.1)).record
    b = decide(_plans(1), _state("c1"), NOW, (), _exp(0.2)).record
    assert a is not None
    assert b is not None
    assert a.policy_version != b.policy_version
    assert decide(_plans(1), _state("c1"), NOW, (), _exp(0.1)).record == a  # pure: the same record again


def test_draw_probabilities_are_exact() -> None:
    eps, k = 0.2, 3
    actions = ["a", "b", "c"]
    # over a fine grid of u the frequencies are the formula's, to the grid's resolution
    grid = np.linspace(0, 1, 120_000, endpoint=False)
    picks = [draw(actions, 1, eps, float(u)).index for u in grid]
    freq = np.bincount(picks, minlength=k + 1) / len(grid)
    expected = [eps / (k + 1) + (1 - eps) * (i == 1) for i in range(k + 1)]
    assert freq == pytest.approx(expected, abs=1e-4)
    for i, u in enumerate((0.01, 0.06, 0.11, 0.16)):
        d = draw(actions, 1, eps, u)
        assert (d.index, d.explored) == (i, True)
        assert d.probability == pytest.approx(expected[i])


def _binomial_ok(hits: int, n: int, p: float) -> bool:
    """``hits`` lies within a 99.9% normal-approximation interval of Binomial(n, p) (plus one for p near 0/1)."""
    half = 3.29 * math.sqrt(n * p * (1 - p)) + 1
    return abs(hits - n * p) <= half


@settings(max_examples=6, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate])
@given(eps=st.sampled_from([0.05, 0.1, 0.25, 0.5]), k=st.integers(1, 4), day=st.integers(1, 28))
def test_replaying_the_policy_reproduces_every_choice_and_the_logged_probability(eps: float, k: int, day: int) -> None:
    config, exp = _plans(k), _exp(eps)
    now = NOW.replace(day=day)
    ids = [f"sim{i:05d}" for i in range(800)]
    logged = [decide(config, _state(cid), now, (), exp).record for cid in ids]
    replay = [decide(config, _state(cid), now, (), exp).record for cid in ids[:200]]
    assert logged[:200] == replay  # exact equality of choices and probabilities on replay
    records = [r for r in logged if r is not None]
    assert len(records) == len(ids)
    options = [*(f"p{i}.offer" for i in range(k)), NO_ACTION]
    for a in options:
        truth = eps / (k + 1) + (1 - eps) * (a == "p0.offer")
        probs = {r.probability for r in records if r.chosen == a}
        assert all(p == pytest.approx(truth) for p in probs), (a, probs)
        hits = sum(r.chosen == a for r in records)
        assert _binomial_ok(hits, len(records), truth), (a, hits, truth)
    explored = [r for r in records if r.rung == "explore"]
    assert _binomial_ok(len(explored), len(records), eps)


def test_exploring_no_action_skips_the_steps_and_a_drawn_action_is_sent() -> None:
    config, exp = _plans(2), _exp(0.5)
    seen = set()
    for i in range(300):
        d = decide(config, _state(f"x{i}"), NOW, (), exp)
        rec = d.record
        assert rec is not None
        if rec.rung == "explore" and rec.chosen == NO_ACTION:
            assert not d.actions
            assert all(s.reason.startswith("explore: no action") for s in d.suppressed)
            assert {name: st["step"] for name, st in d.plan_state.items()} == {"p0": 1, "p1": 1}  # moved on
        elif rec.rung == "explore":
            assert [f"{a.plan}.{a.step}" for a in d.actions] == [rec.chosen]
            assert d.actions[0].reasons[-1].startswith("explore: drawn uniformly")
        seen.add((rec.rung, rec.chosen))
    assert {("explore", NO_ACTION), ("explore", "p1.offer"), ("exploit", "p0.offer")} <= seen


def test_service_messages_are_never_randomised_away() -> None:
    config, exp = _plans(2, kinds=("service", "marketing")), _exp(0.5)
    for i in range(100):
        rec = decide(config, _state(f"s{i}"), NOW, (), exp).record
        assert rec is not None
        assert rec.rung == "exploit"
        assert (rec.probability, rec.exploration) == (1.0, 0.0)  # the exploration applied, not the one configured


def test_the_global_holdout_logs_no_action_with_probability_one() -> None:
    exp = _exp(0.3, holdout=0.2)
    held = next(f"g{i}" for i in range(1000) if bucket("global", f"g{i}") < 0.2 * BUCKETS)
    d = decide(_plans(2), _state(held), NOW, (), exp)
    assert not d.actions
    rec = d.record
    assert rec is not None
    assert (rec.rung, rec.chosen, rec.probability) == ("global_holdout", NO_ACTION, 1.0)
    assert {c.blocked for c in rec.candidates} == {"holdout:global"}


def test_plan_holdout_is_hash_stable_and_persists_in_the_plan_state() -> None:
    exp = _exp(0.0, plan_holdout={"p0": 0.3})
    ids = [f"h{i}" for i in range(2000)]
    decisions = {cid: decide(_plans(2), _state(cid), NOW, (), exp) for cid in ids}
    held = {cid for cid, d in decisions.items() if d.record is not None and d.record.rung == "plan_holdout"}
    assert held == {cid for cid in ids if bucket(plan_key("p0"), cid) < 0.3 * BUCKETS}
    assert _binomial_ok(len(held), len(ids), 0.3)
    cid = next(c for c in sorted(held) if bucket(plan_key("p0"), c) >= 0.05 * BUCKETS)
    d = decisions[cid]
    assert [f"{a.plan}.{a.step}" for a in d.actions] == ["p1.offer"]  # the other plan still acts
    assert d.plan_state["@pilots"][plan_key("p0")]["arm"] == "holdout"
    # persistent: a smaller share later does not release a customer already held out (the assignment is kept)
    fresh = decide(_plans(2), _state(cid), NOW, (), _exp(0.0, plan_holdout={"p0": 0.05}))
    assert fresh.record is not None
    assert fresh.record.rung == "exploit"
    restored = CustomerState(
        cid, {"tenure_days": 2}, consents={"email": True}, plan_state={"@pilots": d.plan_state["@pilots"]}
    )
    again = decide(_plans(2), restored, NOW, (), _exp(0.0, plan_holdout={"p0": 0.05}))
    assert again.record is not None
    assert again.record.rung == "plan_holdout"
    assert f"holdout:{plan_key('p0')}" in [s.reason for s in again.suppressed]


def test_the_realtime_key_is_the_event_id_and_records_say_their_path() -> None:
    config, exp = _plans(2), _exp(0.25)
    ev = Event("e-1", "c7", "purchase", NOW, {})
    rt = decide(config, _state("c7"), NOW, (ev,), exp, path="realtime").record
    batch = decide(config, _state("c7"), NOW, (), exp).record
    assert rt is not None
    assert batch is not None
    assert rt.path == "realtime"
    assert batch.path == "batch"
    assert rt.decision_id != batch.decision_id
    assert rt.candidates == batch.candidates
    assert rt.context == batch.context
    u = uniform("explore", "c7", "e-1")
    assert (rt.rung == "explore") == (u < 0.25)


def test_thompson_shares_follow_the_posteriors_with_a_floor() -> None:
    even = dict(thompson_shares(["a", "b"], {}, 0.1))
    assert even == pytest.approx({"a": 0.5, "b": 0.5}, abs=0.01)
    strong = dict(thompson_shares(["a", "b", "c"], {"a": (80, 20), "b": (20, 80), "c": (20, 80)}, 0.1))
    assert strong["b"] == pytest.approx(0.1, abs=0.005)
    assert strong["c"] == pytest.approx(0.1, abs=0.005)
    assert strong["a"] == pytest.approx(0.8, abs=0.01)
    assert thompson_shares(["a", "b"], {"a": (3, 5)}, 0.1) == thompson_shares(["a", "b"], {"a": (3, 5)}, 0.1)
    # hand check: P(Beta(2,1) > Beta(1,2)) = 5/6 exactly; with floor 0.1: 0.1 + 0.8 * 5/6
    two = dict(thompson_shares(["x", "y"], {"x": (2, 1), "y": (1, 2)}, 0.1))
    assert two["x"] == pytest.approx(0.1 + 0.8 * 5 / 6, abs=0.01)


def test_thompson_allocates_pilot_arms_at_the_shares_it_reports() -> None:
    pilot = {
        "plan": "p0",
        "allocation": "thompson",
        "arms": {"control": {"share": 0.2, "holdout": True}, "a": {"share": 0.4}, "b": {"share": 0.4, "offer": "B"}},
    }
    exp = ExperimentsSettings.model_validate({"pilots": {"t": pilot}, "ladder": {"thompson_floor": 0.1}})
    learned = Learned(variant_posteriors={"t:a": (30.0, 70.0), "t:b": (45.0, 55.0)})
    ids = [f"t{i}" for i in range(3000)]
    arms = [decide(_plans(1), _state(c), NOW, (), exp, learned=learned).assignments[0].arm for c in ids]
    shares = dict(thompson_shares(["a", "b"], {"a": (30.0, 70.0), "b": (45.0, 55.0)}, 0.1, 0.8))
    assert shares["b"] > 0.6  # the better variant gets most of the treated mass
    for arm, p in (("control", 0.2), ("a", shares["a"]), ("b", shares["b"])):
        assert _binomial_ok(arms.count(arm), len(ids), p), (arm, arms.count(arm), p)
