"""The contact policy: consent, suppression, cooldowns, quiet hours, caps and arbitration."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvm.config.plans import CHANNELS, PlansConfig, PolicyConfig, QuietHoursConfig, StepConfig
from cvm.contracts.decisions import CustomerState
from cvm.plans.arbitrate import Candidate, arbitrate
from cvm.plans.decide import decide
from cvm.plans.policy import CapBook, consent_refusal, fits, next_allowed, next_fit
from cvm.plans.runtime import runtime

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Paris
PARIS = ZoneInfo("Europe/Paris")


def _plans(**policy: object) -> PlansConfig:
    return PlansConfig.model_validate({"policy": policy})


def _state(**kw: object) -> CustomerState:
    base: dict[str, object] = {
        "customer_id": "c1",
        "attributes": {"tenure_days": 1, "value": 1000.0, "value_grade": "high", "stage": "new"},
        "consents": {"email": True},
        "timezone": "Europe/Paris",
    }
    base.update(kw)
    return CustomerState(**base)  # type: ignore[arg-type]


# -- consent ------------------------------------------------------------------------------------------
def test_opt_out_is_never_overridden() -> None:
    policy = PolicyConfig()
    assert consent_refusal(policy, {"mail": False}, "mail") == "no consent: the customer opted out of mail"
    assert consent_refusal(policy, {}, "mail") is None  # mail needs no opt-in by default
    assert consent_refusal(policy, {}, "email") == "no consent: email needs an opt-in"
    assert consent_refusal(policy, {"email": True}, "email") is None


def test_missing_consent_skips_the_step_and_records_it() -> None:
    d = decide(PlansConfig(), _state(consents={"email": False}), NOW)
    assert d.actions == ()
    reasons = {(s.plan, s.step): s.reason for s in d.suppressed}
    assert reasons[("welcome", "inform")] == "no consent: the customer opted out of email"
    assert d.plan_state["welcome"]["step"] == 1  # skipped, not retried


# -- suppression rules and cooldowns ------------------------------------------------------------------
def _sell_plan(**step: object) -> dict[str, object]:
    return {
        "trigger": {"type": "condition", "when": "value_grade = 'high'"},
        "steps": [{"name": "offer", "objective": "sell", "channel": "email", "propensity": "0.1", **step}],
    }


def test_no_selling_while_a_complaint_is_open() -> None:
    cfg = PlansConfig.model_validate({"definitions": {"upsell": _sell_plan()}})
    held = decide(cfg, _state(open_complaint=True, attributes={"value_grade": "high", "value": 100.0}), NOW)
    assert [a.plan for a in held.actions] == []
    (s,) = [s for s in held.suppressed if s.plan == "upsell"]
    assert s.reason.startswith("suppressed by open_complaint")
    assert s.deferred_until is None
    assert held.plan_state["upsell"]["step"] == 0  # held, retried at the next decision
    free = decide(cfg, _state(open_complaint=False, attributes={"value_grade": "high", "value": 100.0}), NOW)
    assert [a.plan for a in free.actions] == ["upsell"]


def test_cooldown_defers_until_it_ends() -> None:
    cfg = PlansConfig.model_validate({"definitions": {"upsell": _sell_plan(cooldown_days=14)}})
    last = NOW - timedelta(days=3)
    d = decide(cfg, _state(attributes={"value_grade": "high"}, contacts_sent=[(last, "sms", "sell")]), NOW)
    (s,) = [s for s in d.suppressed if s.plan == "upsell"]
    assert s.reason.startswith("cooldown")
    assert s.deferred_until == last + timedelta(days=14)


# -- quiet hours --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2025, 3, 4, 22, 30), datetime(2025, 3, 5, 8, 0)),  # Tuesday night -> Wednesday 08:00
        (datetime(2025, 3, 5, 3, 0), datetime(2025, 3, 5, 8, 0)),  # early morning -> same day
        (datetime(2025, 3, 5, 12, 0), datetime(2025, 3, 5, 12, 0)),  # allowed
        (datetime(2025, 3, 8, 23, 0), datetime(2025, 3, 10, 8, 0)),  # Saturday night, Sunday quiet -> Monday
        (datetime(2025, 3, 9, 15, 0), datetime(2025, 3, 10, 8, 0)),  # Sunday
    ],
)
def test_quiet_hours_defer_to_the_next_allowed_time(local: datetime, expected: datetime) -> None:
    at = local.replace(tzinfo=PARIS).astimezone(UTC)
    got = next_allowed(QuietHoursConfig(), "sms", at, PARIS)
    assert got.astimezone(PARIS).replace(tzinfo=None) == expected
    assert got.tzinfo == UTC
    assert next_allowed(QuietHoursConfig(), "crm_task", at, PARIS) == at  # not a quiet-hours channel


def test_quiet_hours_across_a_dst_change() -> None:
    q = QuietHoursConfig(start=time(1, 0), end=time(3, 30), days=[])
    at = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)  # 01:30 in Paris; clocks jump from 02:00 to 03:00
    assert next_allowed(q, "email", at, PARIS) == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)  # 03:30 CEST


def test_action_at_night_is_sent_in_the_morning() -> None:
    night = datetime(2025, 3, 4, 22, 0, tzinfo=UTC)  # 23:00 in Paris
    (a,) = decide(PlansConfig(), _state(), night).actions
    assert a.not_before == datetime(2025, 3, 5, 7, 0, tzinfo=UTC)
    assert "deferred by quiet hours" in a.reasons[-1]


# -- caps ---------------------------------------------------------------------------------------------
def test_fits_counts_every_window_containing_the_new_contact() -> None:
    day = timedelta(days=1)
    t = NOW
    assert fits([], t, day, 1)
    assert not fits([t - timedelta(hours=1)], t, day, 1)
    assert fits([t - timedelta(hours=25)], t, day, 1)
    assert not fits([t + timedelta(hours=5)], t, day, 1)  # a planned contact later today
    assert fits([t - timedelta(hours=20)], t, day, 2)
    assert not fits([t - day / 4, t + day / 4], t, day, 2)
    assert not fits([], t, day, 0)
    assert next_fit([t - timedelta(hours=1)], t, day, 1) == t + timedelta(hours=23, microseconds=1)


def test_a_full_cap_holds_the_action_until_it_frees_up() -> None:
    sent = [(NOW - timedelta(hours=2), "email", "inform")]
    d = decide(PlansConfig(), _state(contacts_sent=sent), NOW)
    assert d.actions == ()
    (s,) = [s for s in d.suppressed if s.step == "inform"]
    assert s.reason == "cap: all/day cap 1 reached"
    assert s.deferred_until == NOW + timedelta(hours=22, microseconds=1)
    assert d.plan_state["welcome"]["step"] == 0


def test_crm_tasks_do_not_count_towards_the_total() -> None:
    sent = [(NOW - timedelta(hours=2), "crm_task", "ask")]
    assert len(decide(PlansConfig(), _state(contacts_sent=sent), NOW).actions) == 1


def _candidate(plan: str, channel: str, ev: float, priority: int = 0) -> Candidate:
    step = StepConfig(name="s", objective="inform", channel=channel, priority=priority)  # type: ignore[arg-type]
    return Candidate(plan, step, 0, ev, (0.0, 0.0, 0.0, 0.0), NOW)


_CAP = st.one_of(st.none(), st.integers(0, 3))
_CAPS = st.fixed_dictionaries(
    {k: st.fixed_dictionaries({"day": _CAP, "week": _CAP, "month": _CAP}) for k in ("all", "email", "sms", "phone")}
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    caps=_CAPS,
    max_actions=st.integers(1, 4),
    offsets=st.lists(st.floats(-40, 10), max_size=12),
    channels=st.lists(st.sampled_from(["email", "sms", "phone", "crm_task"]), min_size=12, max_size=12),
    cands=st.lists(
        st.tuples(st.sampled_from(["email", "sms", "phone", "crm_task"]), st.floats(-5, 50), st.integers(0, 3)),
        min_size=1,
        max_size=8,
    ),
)
def test_arbitration_never_breaks_a_cap_and_prefers_value(
    caps: dict[str, dict[str, int | None]],
    max_actions: int,
    offsets: list[float],
    channels: list[str],
    cands: list[tuple[str, float, int]],
) -> None:
    policy = PolicyConfig.model_validate({"caps": caps, "max_actions": max_actions, "quiet_hours": {"channels": []}})
    rt = runtime(PlansConfig(policy=policy))
    history = CapBook(rt, [])
    for off, ch in zip(offsets, channels, strict=False):  # a history that respects the caps
        at = NOW + timedelta(days=off)
        if history.blocking(ch, at) is None:
            history.book(ch, at)
    past = [(t, ch, "inform") for ch, times in history.by_channel.items() for t in times]
    candidates = [_candidate(f"p{i}", ch, ev, pr) for i, (ch, ev, pr) in enumerate(cands)]
    verdicts = arbitrate(policy, candidates, CapBook(rt, past), NOW, lambda _c: NOW)
    chosen = [v.candidate for v in verdicts if v.chosen]
    assert len(chosen) <= max_actions
    # never exceeds a cap: every window around every contact stays within bounds
    final = CapBook(rt, [*past, *((NOW, c.step.channel, "inform") for c in chosen)])
    for label, is_all, window, cap in (r for ch in CHANNELS for r in rt.caps[ch]):
        ch = label.split("/")[0]
        times = final.total if is_all else final.by_channel.get(ch, [])
        for end in times:
            inside = [t for t in times if end - window < t <= end]
            assert len(inside) <= cap, (label, end)
    # prefers value: a held candidate worth more than a chosen one could not go out with those above it
    for v in verdicts:
        if v.chosen:
            continue
        above = [c for c in chosen if c.order < v.candidate.order]
        if v.reason.startswith("arbitration"):
            assert len(above) == max_actions
        else:
            book = CapBook(rt, [*past, *((NOW, c.step.channel, "inform") for c in above)])
            assert book.blocking(v.candidate.step.channel, NOW) is not None
    if max_actions == 1 and chosen:
        feasible = [c for c in candidates if CapBook(rt, past).blocking(c.step.channel, NOW) is None]
        assert chosen[0].expected_value == max(c.expected_value for c in feasible)


def test_ties_break_by_priority_then_name() -> None:
    policy = PolicyConfig.model_validate({"max_actions": 1, "quiet_hours": {"channels": []}})
    rt = runtime(PlansConfig(policy=policy))
    cands = [_candidate("b", "email", 5.0, 1), _candidate("a", "email", 5.0, 1), _candidate("c", "email", 5.0, 2)]
    verdicts = arbitrate(policy, cands, CapBook(rt, []), NOW, lambda _c: NOW)
    assert [v.candidate.plan for v in verdicts if v.chosen] == ["c"]
    assert [v.candidate.plan for v in verdicts] == ["c", "a", "b"]
