"""Holdouts and pilot arms inside the decision: who is held out, who gets which variant.

A step is routed here once it *would act*: it is due, passes the hard rules (expiry,
eligibility, consent, minimum value) and no suppression rule or cooldown holds it.
That moment is the assignment ("targeted"), the same for every arm:

1. **Global holdout** (``experiments.holdout_share`` > 0): a marketing step (``kind:
   marketing``, the default) for a customer whose ``global`` bucket falls in the holdout
   is not sent; service and transactional steps are. The first marketing step that
   would act records the customer's global arm, ``holdout`` or ``contacted``.
2. **Plan holdout** (``experiments.ladder.plan_holdout``): a marketing step of a plan for a
   customer whose ``plan:<name>`` bucket falls in that plan's holdout is not sent (reason
   ``holdout:plan:<name>``); the customer's arm is recorded once, like the global one.
3. **Pilot** of this plan and step: the customer's arm is the one already recorded,
   else (while the pilot is enabled and between its ``start`` and ``end``) the arm of
   their bucket (:func:`cvm.experiments.assign.arm_for`). A customer enters a pilot only
   if every arm could treat them (consent for every arm's channel), so that no arm loses
   customers another keeps; others get the plan's own step, outside the pilot. A pilot with
   ``allocation: thompson`` places the bucket against Thompson-sampled shares of its variants
   (:func:`cvm.plans.explore.thompson_shares`) instead of the configured ones.
4. A **holdout arm** skips the step with reason ``holdout:<pilot>`` (recorded as
   :class:`~cvm.plans.decide.Suppressed`, and the plan moves on as if it had been sent, so
   controls follow the same schedule). Other arms send their variant: offer, channel,
   action, content, cost and contact caps overridden (:class:`cvm.config.settings.ArmSettings`).

Assignments already made arrive in the customer's plan state (key ``@pilots``); new ones
leave in :attr:`cvm.plans.decide.Decision.assignments` and in the new plan state, so the
batch and the real-time path persist them with the plan state and decide identically.

Imports from a sibling stage: :mod:`cvm.experiments.assign` (buckets and arms). Assignment must be
the same pure function when the decision assigns and when the pilot is analysed; it imports only
the standard library and :mod:`cvm.contracts`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from threading import Lock
from typing import Any

from cvm.config.plans import CapConfig, PolicyConfig
from cvm.config.settings import ArmSettings, ExperimentsSettings, PilotSettings
from cvm.contracts.actions import Assignment
from cvm.experiments.assign import (
    BUCKETS,
    CONTACTED_ARM,
    GLOBAL,
    HOLDOUT_ARM,
    arm_for,
    bucket,
    existing,
    in_global_holdout,
)
from cvm.plans.explore import thompson_shares
from cvm.plans.runtime import CapRules, PlanRuntime, Runtime, StepRuntime, cap_rules


@dataclass(frozen=True)
class ArmRuntime:
    """One arm, compiled: its variant of each step it covers and its cap rules."""

    name: str
    holdout: bool
    steps: Mapping[str, StepRuntime]
    caps: CapRules | None


@dataclass(frozen=True)
class PilotRuntime:
    """One enabled pilot, compiled."""

    name: str
    plan: str
    shares: tuple[tuple[str, float], ...]
    arms: Mapping[str, ArmRuntime]
    channels: Mapping[str, frozenset[str]]
    start: datetime | None
    end: datetime | None
    allocation: str = "fixed"
    """``thompson``: the non-holdout arms share by Thompson sampling (:func:`cvm.plans.explore.thompson_shares`)."""

    def open(self, now: datetime) -> bool:
        """Whether new customers may be assigned at ``now``."""
        return (self.start is None or now >= self.start) and (self.end is None or now < self.end)


@dataclass(frozen=True)
class Pilots:
    """Everything routing needs: the global holdout share and the pilots by (plan, step)."""

    holdout_share: float
    by_step: Mapping[tuple[str, str], PilotRuntime]
    plan_holdout: Mapping[str, float] = dataclasses.field(default_factory=dict)
    """Plan name → share held out of its marketing steps (``experiments.ladder.plan_holdout``)."""
    floor: float = 0.05
    """The least share of each variant of a Thompson-allocated pilot."""

    @property
    def idle(self) -> bool:
        return self.holdout_share <= 0 and not self.by_step and not any(s > 0 for s in self.plan_holdout.values())


@dataclass(frozen=True)
class Route:
    """What a pilot does to a step: hold it out (``holdout`` is the reason) or send a variant."""

    holdout: str | None = None
    step: StepRuntime | None = None
    caps: CapRules | None = None
    label: str | None = None


def _merged_caps(policy: PolicyConfig, arm: ArmSettings) -> CapRules | None:
    if not arm.caps:
        return None
    caps = dict(policy.caps)
    for key, override in arm.caps.items():
        base = caps.get(key, CapConfig()).model_dump()
        caps[key] = CapConfig(**{**base, **override.model_dump(exclude_unset=True)})
    return cap_rules(policy.model_copy(update={"caps": caps}))


def _variant(step: StepRuntime, arm: ArmSettings, policy: PolicyConfig) -> StepRuntime:
    levers = {k: getattr(arm, k) for k in ("offer", "channel", "action", "content") if getattr(arm, k) is not None}
    if not levers and arm.cost is None:
        return step
    config = step.config.model_copy(update=levers)
    cost = arm.cost if arm.cost is not None else step.config.cost
    return dataclasses.replace(
        step,
        config=config,
        action=arm.action or step.action,
        cost=cost if cost is not None else policy.cost(config.channel),
    )


def _day(d: Any) -> datetime | None:
    return None if d is None else datetime.combine(d, time(0, 0), UTC)


def _pilot(name: str, p: PilotSettings, plan: PlanRuntime, policy: PolicyConfig) -> PilotRuntime:
    steps = [s for s in plan.steps if p.step is None or s.config.name == p.step]
    arms = {}
    for arm_name, arm in p.arms.items():
        variants = {} if arm.holdout else {s.config.name: _variant(s, arm, policy) for s in steps}
        arms[arm_name] = ArmRuntime(arm_name, arm.holdout, variants, None if arm.holdout else _merged_caps(policy, arm))
    channels = {
        s.config.name: frozenset(a.channel or s.config.channel for a in p.arms.values() if not a.holdout) for s in steps
    }
    shares = tuple((n, a.share) for n, a in p.arms.items())
    return PilotRuntime(name, p.plan, shares, arms, channels, _day(p.start), _day(p.end), p.allocation)


def _build(experiments: ExperimentsSettings, rt: Runtime) -> Pilots:
    plans = {p.name: p for p in rt.plans}
    by_step: dict[tuple[str, str], PilotRuntime] = {}
    for name, p in sorted(experiments.pilots.items()):
        plan = plans.get(p.plan)
        if not p.enabled or plan is None:
            continue
        compiled = _pilot(name, p, plan, rt.config.policy)
        for step in compiled.channels:
            by_step.setdefault((p.plan, step), compiled)
    ladder = experiments.ladder
    return Pilots(experiments.holdout_share, by_step, dict(ladder.plan_holdout), ladder.thompson_floor)


_CACHE: dict[tuple[int, int], tuple[ExperimentsSettings, Runtime, Pilots]] = {}
_LOCK = Lock()
NO_PILOTS = Pilots(0.0, {})


def plan_key(plan: str) -> str:
    """The experiment key of a plan's holdout (in the assignments and the plan state): ``plan:<name>``."""
    return f"plan:{plan}"


def pilots(experiments: ExperimentsSettings | None, rt: Runtime) -> Pilots:
    """The compiled pilots of ``experiments`` for the plans of ``rt`` (cached like the plans runtime)."""
    if experiments is None:
        return NO_PILOTS
    key = (id(experiments), id(rt))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is experiments and hit[1] is rt:
        return hit[2]
    built = _build(experiments, rt)
    with _LOCK:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = (experiments, rt, built)
    return built


class Router:
    """Routes one customer's steps during one decision, collecting the new assignments."""

    def __init__(
        self,
        compiled: Pilots,
        customer_id: str,
        plan_state: Mapping[str, Any],
        now: datetime,
        posteriors: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        self.compiled = compiled
        self.customer_id = customer_id
        self.known = existing(plan_state)
        self.now = now
        self.posteriors = posteriors or {}
        self.new: list[Assignment] = []

    def _record(self, experiment: str, arm: str, b: int, plan: str, step: str | None) -> str:
        self.known[experiment] = arm
        self.new.append(Assignment(experiment, self.customer_id, arm, b, self.now, plan, step))
        return arm

    def _global(self, plan: str, step: str) -> str:
        arm = self.known.get(GLOBAL)
        if arm is not None:
            return arm
        held = in_global_holdout(self.customer_id, self.compiled.holdout_share)
        b = bucket(GLOBAL, self.customer_id)
        return self._record(GLOBAL, HOLDOUT_ARM if held else CONTACTED_ARM, b, plan, step)

    def _plan_held(self, plan: str, step: str) -> bool:
        """Whether the customer is in the holdout of ``plan`` (assigned once, like the global holdout)."""
        share = self.compiled.plan_holdout.get(plan, 0.0)
        key = plan_key(plan)
        arm = self.known.get(key)
        if arm is None:
            if share <= 0:
                return False
            b = bucket(key, self.customer_id)
            arm = self._record(key, HOLDOUT_ARM if b < round(BUCKETS * share) else CONTACTED_ARM, b, plan, step)
        return arm == HOLDOUT_ARM

    def shares(self, pilot: PilotRuntime) -> tuple[tuple[str, float], ...]:
        """The arms' shares for a new assignment: as configured, or by Thompson sampling over the variants."""
        if pilot.allocation != "thompson":
            return pilot.shares
        held = [(n, s) for n, s in pilot.shares if pilot.arms[n].holdout]
        variants = [n for n, _s in pilot.shares if not pilot.arms[n].holdout]
        posteriors = {
            n: self.posteriors[f"{pilot.name}:{n}"] for n in variants if f"{pilot.name}:{n}" in self.posteriors
        }
        mass = 1.0 - sum(s for _n, s in held)
        return (*held, *thompson_shares(variants, posteriors, self.compiled.floor, mass))

    def route(self, plan: str, step: StepRuntime, consented: Callable[[str], bool]) -> Route | None:
        """The route of a step that would act, or ``None`` when no holdout or pilot concerns it."""
        name = step.config.name
        marketing = step.config.kind == "marketing" and self.compiled.holdout_share > 0
        if marketing and self._global(plan, name) == HOLDOUT_ARM:
            return Route(holdout=f"holdout:{GLOBAL}")
        if step.config.kind == "marketing" and self._plan_held(plan, name):
            return Route(holdout=f"holdout:{plan_key(plan)}")
        pilot = self.compiled.by_step.get((plan, name))
        if pilot is None:
            return None
        arm_name = self.known.get(pilot.name)
        if arm_name is None:
            if not pilot.open(self.now) or not all(consented(c) for c in pilot.channels[name]):
                return None
            b = bucket(pilot.name, self.customer_id)
            arm_name = self._record(pilot.name, arm_for(b, self.shares(pilot)), b, plan, name)
        arm = pilot.arms.get(arm_name)
        if arm is None:  # the arm was removed from the configuration: the customer gets the plan's step
            return None
        if arm.holdout:
            return Route(holdout=f"holdout:{pilot.name}")
        return Route(step=arm.steps.get(name, step), caps=arm.caps, label=f"pilot {pilot.name}: arm {arm.name}")
