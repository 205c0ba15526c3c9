"""The pure decision function: what to do for one customer now.

Shared interface between the decision side (plans, policy, arbitration) and the
delivery side (outbox, worker, POST /events). :func:`decide` is pure and
deterministic: the same inputs give the same :class:`Decision`, so the batch
path (``engine.plans.plan_batch``) and the real-time path (an event arriving through
the API) agree.

One decision, plan by plan (in name order):

1. an active enrolment whose ``exit`` condition holds ends (``exited``);
2. a customer not in the plan (or allowed to re-enter, ``reentry_days`` after
   the last enrolment) is enrolled when the trigger fires (an event in
   ``events``, or the trigger's condition on the attributes) and ``entry``
   holds; step days count from the enrolment;
3. the first due step is examined. It is **skipped** (the plan moves on, and
   the next step may be due at once) when it is expired, not eligible, lacks
   consent for its channel (an opt-out is never overridden) or is worth less
   than ``policy.min_expected_value``. It is **held** (stays due) while a
   suppression rule or its cooldown applies. Otherwise it is a candidate.

A step that would act then meets the holdouts and pilots (:mod:`cvm.plans.pilots`,
when ``experiments`` are given): a held-out customer's step is skipped with reason
``holdout:<experiment>``; a pilot arm's variant replaces the step. New assignments
come out in :attr:`Decision.assignments` and in the plan state (key ``@pilots``).

Candidates then go through :func:`cvm.plans.arbitrate.arbitrate` (greedy by
expected value under the caps), and the exploration rung of the holdout ladder may replace
its choice by a uniform draw (:mod:`cvm.plans.ladder`). A decision with a candidate carries
its :class:`~cvm.contracts.decisionlog.DecisionRecord` (:mod:`cvm.plans.decisionlog`).
A chosen step becomes an :class:`ActionRequest` and the plan advances; every skipped or
held step is a :class:`Suppressed` with its reason. Those, and the :class:`Decision` that carries them, are the contract
with the later stages: they live in :mod:`cvm.contracts.actions`.

Imports from a sibling stage: :mod:`cvm.experiments.assign` (the plan-state key of the
pilot assignments). Deterministic assignment is one pure function for deciding and for
analysing a pilot; it imports only the standard library.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cvm.config.plans import PlansConfig
from cvm.config.settings import ExperimentsSettings
from cvm.contracts.actions import ActionRequest, Decision, Suppressed
from cvm.contracts.decisionlog import DecisionRecord, Path
from cvm.contracts.decisions import CustomerState, Event, RankedAction
from cvm.contracts.learned import Learned
from cvm.experiments.assign import STATE_KEY
from cvm.plans import decisionlog, ladder
from cvm.plans.arbitrate import Candidate, Verdict, arbitrate
from cvm.plans.credit import credit_refusal
from cvm.plans.explore import uniform
from cvm.plans.incremental import Pricer
from cvm.plans.pilots import Router, pilots
from cvm.plans.policy import CapBook, consent_refusal, last_contact, next_allowed, zone
from cvm.plans.runtime import PlanRuntime, StepRuntime, runtime
from cvm.plans.state import Enrolment, iso


def decide(
    config: PlansConfig,
    state: CustomerState,
    now: datetime,
    events: Sequence[Event] = (),
    experiments: ExperimentsSettings | None = None,
    *,
    learned: Learned | None = None,
    path: Path = "batch",
) -> Decision:
    """Decide the actions for one customer at ``now`` (pure and deterministic).

    Parameters
    ----------
    config
        Plans and contact policy (``Settings.plans``).
    state
        The customer, as plain values.
    now
        Decision time (timezone-aware; naive is read as UTC).
    events
        Events that arrived since the last decision (real-time triggers).
    experiments
        The holdout ladder and the pilots (``Settings.experiments``); ``None``: none.
    learned
        What the models learned, as plain data (fatigue curves, Thompson posteriors of pilot
        variants, model versions); ``None``: nothing.
    path
        ``batch`` or ``realtime``: logged, and picks the decision key of the hash-based draws
        (the UTC day, or the events' ids).

    Examples
    --------
    >>> from cvm.config.plans import PlansConfig
    >>> state = CustomerState("c1", {"tenure_days": 2}, consents={"email": True})
    >>> d = decide(PlansConfig(), state, datetime(2025, 3, 4, 10, tzinfo=UTC))
    >>> [(a.plan, a.step, a.channel) for a in d.actions]
    [('welcome', 'inform', 'email')]
    """
    run = _Run(config, state, now, events, experiments, learned, path)
    verdicts = run.go()
    actions = tuple(run.request(v) for v in verdicts if v.chosen)
    held = [run.hold(v) for v in verdicts if not v.chosen]
    suppressed = tuple(run.suppressed + held)
    new = tuple(run.router.new) if run.router else ()
    return Decision(actions, suppressed, run.plan_state(), new, record=run.record(config))


def rank(
    config: PlansConfig,
    state: CustomerState,
    now: datetime,
    experiments: ExperimentsSettings | None = None,
    *,
    learned: Learned | None = None,
) -> list[RankedAction]:
    """Due actions with their expected value, and why each was chosen or held back (chosen first, then by value)."""
    run = _Run(config, state, now, (), experiments, learned)
    verdicts = run.go()
    ranked = [run.ranked(v.candidate, v.chosen, v.reason) for v in verdicts]
    ranked += [run.ranked(cand, False, s.reason) for s, cand in run.skipped]
    return sorted(ranked, key=lambda r: (not r.chosen, -r.expected_value, r.plan, r.step))


class _Run:
    """One call of :func:`decide`: the working state while plans are walked."""

    def __init__(
        self,
        config: PlansConfig,
        state: CustomerState,
        now: datetime,
        events: Sequence[Event],
        experiments: ExperimentsSettings | None = None,
        learned: Learned | None = None,
        path: Path = "batch",
    ) -> None:
        self.rt = runtime(config)
        self.experiments, self.learned, self.path = experiments, learned or Learned(), path
        self.ladder: ladder.Ladder | None = None
        self.policy = config.policy
        self.state = state
        self.now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self.events = [e for e in events if e.customer_id == state.customer_id]
        attrs = state.attributes  # read only: shared when it already says what open_complaint says
        if attrs.get("open_complaint", None) is not state.open_complaint:
            attrs = {**attrs, "open_complaint": state.open_complaint}
        self.attrs: Mapping[str, Any] = attrs
        self.pricer = Pricer(config, attrs, state.contacts_sent, self.now, learned)
        self.enrolments: dict[str, tuple[PlanRuntime, Enrolment | None]] = {}
        self.loaded: dict[str, Enrolment | None] = {}
        self.suppressed: list[Suppressed] = []
        self.skipped: list[tuple[Suppressed, Candidate]] = []
        self._quiet_until: datetime | None = None
        compiled = pilots(experiments, self.rt)
        posteriors = self.learned.variant_posteriors
        self.router = (
            None if compiled.idle else Router(compiled, state.customer_id, state.plan_state, self.now, posteriors)
        )
        ids = sorted(e.event_id for e in self.events)
        self.key = ",".join(ids) if path == "realtime" and ids else self.now.astimezone(UTC).date().isoformat()

    def go(self) -> list[Verdict]:
        types, held = {e.type for e in self.events}, self.state.plan_state
        candidates = [
            c
            for plan in self.rt.plans
            if (plan.condition is not None or plan.name in held or not plan.event_types.isdisjoint(types))
            and (c := self._walk(plan)) is not None  # a plan the customer is not in, nothing can start, is skipped
        ]
        if not candidates:
            return []
        book = CapBook(self.rt, self.state.contacts_sent)
        blocked = ladder.blocked_of(candidates, book, self.send_at)
        if self.pricer.incremental:
            by = "incremental value"
            verdicts = arbitrate(self.policy, candidates, book, self.now, self.send_at, self.pricer.reprice, by)
        else:
            verdicts = arbitrate(self.policy, candidates, book, self.now, self.send_at)
        epsilon = self.experiments.ladder.exploration if self.experiments is not None else 0.0
        u = uniform("explore", self.state.customer_id, self.key) if epsilon > 0 else 1.0
        self.ladder = ladder.apply(verdicts, blocked, self.send_at, epsilon, u)
        return self.ladder.verdicts

    def send_at(self, channel: str) -> datetime:
        """Now, or the end of the quiet hours and days in the customer's zone for a channel they cover."""
        if channel not in self.rt.quiet_channels:
            return self.now
        if self._quiet_until is None:
            tz = zone(self.state.timezone, self.policy.timezone)
            self._quiet_until = next_allowed(self.policy.quiet_hours, channel, self.now, tz)
        return self._quiet_until

    def after_quiet(self, channel: str, at: datetime) -> datetime:
        return next_allowed(self.policy.quiet_hours, channel, at, zone(self.state.timezone, self.policy.timezone))

    # -- enrolment ----------------------------------------------------------------------------
    def _fires(self, plan: PlanRuntime) -> bool:
        if plan.condition is not None and plan.condition.matches(self.attrs):
            return True
        for ev in self.events:
            if ev.type not in plan.event_types:
                continue
            if plan.segments and ev.properties.get("segment") not in plan.segments:
                continue
            if plan.where is None or plan.where.matches(ev.properties):
                return True
        return False

    def _may_enrol(self, plan: PlanRuntime, current: Enrolment | None) -> bool:
        if current is None:
            return True
        if current.active or plan.reentry is None:
            return False
        return self.now >= current.started + plan.reentry

    def _walk(self, plan: PlanRuntime) -> Candidate | None:
        raw = self.state.plan_state.get(plan.name)
        current = Enrolment.load(raw) if raw else None
        self.loaded[plan.name] = current
        if current is not None and current.active and plan.exit is not None and plan.exit.matches(self.attrs):
            current = current.end("exited", self.now)
        entering = self._may_enrol(plan, current) and self._fires(plan)
        if entering and (plan.entry is None or plan.entry.matches(self.attrs)):
            count = current.enrolments + 1 if current else 1
            current = Enrolment("active", self.now, 0, self.now + plan.steps[0].day, enrolments=count)
        while current is not None and current.active and current.due is not None and current.due <= self.now:
            step = plan.steps[current.step]
            cand = self._candidate(plan, step, current)
            skip = self._skip_reason(step, current, cand)
            if skip is None:
                self.enrolments[plan.name] = (plan, current)
                if self._held(step, cand):
                    return None
                variant, cand, skip = self._route(plan, step, cand, current)
                if skip is None:
                    return None if variant is not step and self._held(variant, cand) else cand
            self._suppress(cand, skip, None, skipped=True)
            current = current.advance(plan.config, self.now)
        if raw or current is not None:
            self.enrolments[plan.name] = (plan, current)
        return None

    # -- the rules on one step ------------------------------------------------------------------
    def _candidate(self, plan: PlanRuntime, step: StepRuntime, enrolment: Enrolment) -> Candidate:
        ev, t = self.pricer.price(plan.name, step)
        terms = (t.propensity, t.value, t.margin, t.cost)
        return Candidate(plan.name, step.config, step.index, ev, terms, enrolment.started, worth=t)

    def _skip_reason(self, step: StepRuntime, enrolment: Enrolment, cand: Candidate) -> str | None:
        assert enrolment.due is not None
        if self.now > enrolment.due + step.expires:
            return f"expired: due {enrolment.due.isoformat()}, held longer than {step.expires.days} days"
        if step.eligibility is not None and not step.eligibility.matches(self.attrs):
            return f"not eligible: {step.eligibility.text}"
        refusal = consent_refusal(self.policy, self.state.consents, step.config.channel) or credit_refusal(
            self.rt.config.credit, step, self.attrs
        )
        if refusal:
            return refusal
        if (value := self.pricer.before_fatigue(cand)) < self.policy.min_expected_value:
            # the kind before the colon, the figures after: the batch summary counts reasons by that kind
            return f"expected value below the minimum: {value:.2f} < {self.policy.min_expected_value:.2f}"
        return None

    def _route(
        self, plan: PlanRuntime, step: StepRuntime, cand: Candidate, enrolment: Enrolment
    ) -> tuple[StepRuntime, Candidate, str | None]:
        """Holdouts and pilots on a step that would act: the step to send (a variant), or a skip reason."""
        if self.router is None:
            return step, cand, None
        route = self.router.route(plan.name, step, self._consented)
        if route is None:
            return step, cand, None
        if route.holdout is not None:
            return step, cand, route.holdout
        variant = route.step or step
        if variant is not step:
            cand = self._candidate(plan, variant, enrolment)
        cand = dataclasses.replace(cand, caps=route.caps, label=route.label)
        return variant, cand, self._skip_reason(variant, enrolment, cand) if variant is not step else None

    def _consented(self, channel: str) -> bool:
        return consent_refusal(self.policy, self.state.consents, channel) is None

    def _held(self, step: StepRuntime, cand: Candidate) -> bool:
        """Record a candidate that a suppression rule or its cooldown holds back; ``True`` when held."""
        objective, channel = step.config.objective, step.config.channel
        for sup in self.rt.suppress:
            applies = (not sup.objectives or objective in sup.objectives) and (
                not sup.channels or channel in sup.channels
            )
            if applies and sup.when.matches(self.attrs):
                self._suppress(cand, f"suppressed by {sup.name}: {sup.reason}", None)
                return True
        if step.cooldown:
            last = last_contact(self.state.contacts_sent, objective, self.now)
            if last is not None and self.now < last + step.cooldown:
                until = self.after_quiet(channel, last + step.cooldown)
                self._suppress(cand, f"cooldown: last {objective} contact {last.isoformat()}", until)
                return True
        return False

    def _suppress(self, cand: Candidate, reason: str, until: datetime | None, skipped: bool = False) -> None:
        s = Suppressed(self.state.customer_id, cand.plan, cand.step.name, cand.step.channel, reason, until)
        self.suppressed.append(s)
        if skipped:
            self.skipped.append((s, cand.blocked(reason)))

    # -- outputs --------------------------------------------------------------------------------
    def worth(self, cand: Candidate) -> str:
        return self.pricer.describe(cand)

    def ranked(self, cand: Candidate, chosen: bool, reason: str) -> RankedAction:
        step = cand.step
        action = step.action or f"{cand.plan}.{step.name}"
        return RankedAction(cand.plan, step.name, action, step.channel, step.objective, step.offer,
                            cand.expected_value, step.priority, chosen, (self.worth(cand), reason))  # fmt: skip

    def request(self, v: Verdict) -> ActionRequest:
        cand = v.candidate
        plan, enrolment = self.enrolments[cand.plan]
        assert enrolment is not None
        self.enrolments[cand.plan] = (plan, enrolment.advance(plan.config, self.now))
        key = f"{self.state.customer_id}|{cand.plan}|{iso(cand.started)}|{cand.step.name}"
        return ActionRequest(
            customer_id=self.state.customer_id,
            plan=cand.plan,
            step=cand.step.name,
            action=cand.step.action or plan.steps[cand.index].action,
            channel=cand.step.channel,
            objective=cand.step.objective,
            offer=cand.step.offer,
            expected_value=round(cand.expected_value, 6),
            priority=cand.step.priority,
            idempotency_key=hashlib.sha256(key.encode()).hexdigest()[:32],
            reasons=(f"plan {cand.plan}, step {cand.step.name} (day {cand.step.day})", self.worth(cand), v.reason)
            + ((cand.label,) if cand.label else ()),
            not_before=v.send_at,
        )

    def hold(self, v: Verdict) -> Suppressed:
        c = v.candidate
        if self.ladder is not None and self.ladder.skip:  # exploration drew no action: the step is skipped
            plan, enrolment = self.enrolments[c.plan]
            assert enrolment is not None
            self.enrolments[c.plan] = (plan, enrolment.advance(plan.config, self.now))
        return Suppressed(self.state.customer_id, c.plan, c.step.name, c.step.channel, v.reason, v.deferred_until)

    def record(self, config: PlansConfig) -> DecisionRecord | None:
        """The decision's log record, ``None`` when it had no candidate (:mod:`cvm.plans.decisionlog`)."""
        lad = self.ladder
        held = [(s.reason, c) for s, c in self.skipped if s.reason.startswith("holdout:")]
        if lad is None and not held:
            return None
        terms = (
            [decisionlog.terms_of(v.candidate, lad.blocked.get(ladder.slot(v.candidate))) for v in lad.verdicts]
            if lad
            else []
        )
        terms += [decisionlog.terms_of(c, reason) for reason, c in held]
        explored = lad is not None and lad.explored
        return decisionlog.record(
            customer_id=self.state.customer_id,
            now=self.now,
            path=self.path,
            key=self.key,
            config=config,
            experiments=self.experiments,
            candidates=terms,
            chosen=lad.chosen if lad else None,
            probability=lad.probability if lad else 1.0,
            rung=ladder.rung([r for r, _c in held], explored),
            attrs=self.attrs,
            model_versions=self.learned.model_versions,
            exploration=lad.epsilon if lad else 0.0,
        )

    def plan_state(self) -> dict[str, Any]:
        out = {k: v for k, v in self.state.plan_state.items()}
        for name, (_plan, enrolment) in self.enrolments.items():
            if enrolment is not None and enrolment != self.loaded.get(name):
                out[name] = enrolment.dump()
        if self.router is not None and self.router.new:
            out[STATE_KEY] = {**(out.get(STATE_KEY) or {}), **{a.experiment: a.state() for a in self.router.new}}
        return out
