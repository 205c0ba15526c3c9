"""Plans and policy compiled once per configuration object, so that a decision only evaluates.

A decision reads this instead of the pydantic models: rules are compiled, step
offsets are ``timedelta`` objects and caps are flat lists. The cache is keyed by
the identity of the configuration object (a loaded configuration is treated as
immutable; ``model_copy`` gives a new object and a new entry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from threading import Lock

from cvm.config.plans import PlanConfig, PlansConfig, PolicyConfig, StepConfig
from cvm.rules import Rule, rule


@dataclass(frozen=True)
class StepRuntime:
    """One step, ready to evaluate."""

    config: StepConfig
    index: int
    action: str
    eligibility: Rule | None
    propensity: Rule
    value: Rule
    margin: Rule
    cost: float
    day: timedelta
    expires: timedelta
    cooldown: timedelta
    uplift: Rule | None = None
    """The step's own uplift expression (``None``: the attribute ``uplift_<action>``)."""
    exposure: float | Rule = 0.0
    """Exposure of a credit offer: the step's expression or ``plans.credit.exposure``."""
    lgd: float = 0.0
    skip_on_warning: bool = False
    """Skipped for a customer on the early-warning list (payment terms instead of an upsell)."""


@dataclass(frozen=True)
class PlanRuntime:
    """One enabled plan, ready to evaluate."""

    name: str
    config: PlanConfig
    condition: Rule | None
    event_types: frozenset[str]
    segments: frozenset[str]
    where: Rule | None
    entry: Rule | None
    exit: Rule | None
    reentry: timedelta | None
    steps: tuple[StepRuntime, ...]


@dataclass(frozen=True)
class SuppressRuntime:
    name: str
    when: Rule
    objectives: frozenset[str]
    channels: frozenset[str]
    reason: str


@dataclass(frozen=True)
class Runtime:
    """Everything a decision needs from the configuration."""

    config: PlansConfig
    plans: tuple[PlanRuntime, ...]
    suppress: tuple[SuppressRuntime, ...]
    caps: CapRules
    exempt: frozenset[str]
    quiet_channels: frozenset[str]


def _step(plan: str, i: int, s: StepConfig, config: PlansConfig) -> StepRuntime:
    return StepRuntime(
        config=s,
        index=i,
        action=s.action or f"{plan}.{s.name}",
        eligibility=rule(s.eligibility, "bool") if s.eligibility else None,
        propensity=rule(s.propensity, "number"),
        value=rule(s.value, "number"),
        margin=rule(s.margin, "number"),
        cost=s.cost if s.cost is not None else config.policy.cost(s.channel),
        day=timedelta(days=s.day),
        expires=timedelta(days=s.expires_days),
        cooldown=timedelta(days=s.cooldown_days),
        uplift=rule(s.uplift, "number") if s.uplift else None,
        exposure=rule(s.exposure, "number") if s.exposure else config.credit.exposure,
        lgd=s.lgd if s.lgd is not None else config.credit.lgd,
        skip_on_warning=(s.on_early_warning or _warning_default(s)) == "skip",
    )


def _warning_default(s: StepConfig) -> str:
    """Without ``on_early_warning``: no selling, proposing or extending credit to an early-warned customer."""
    return "skip" if s.extends_credit or s.objective in ("sell", "propose") else "send"


def _plan(name: str, p: PlanConfig, config: PlansConfig) -> PlanRuntime:
    t = p.trigger
    condition = t.condition()
    segs = frozenset({t.segment, f"stage:{t.segment}"}) if t.segment else frozenset()
    return PlanRuntime(
        name=name,
        config=p,
        condition=rule(condition, "bool") if condition else None,
        event_types=frozenset(t.event_types()),
        segments=segs,
        where=rule(t.where, "bool") if t.where else None,
        entry=rule(p.entry, "bool") if p.entry else None,
        exit=rule(p.exit, "bool") if p.exit else None,
        reentry=timedelta(days=p.reentry_days) if p.reentry_days is not None else None,
        steps=tuple(_step(name, i, s, config) for i, s in enumerate(p.steps)),
    )


CapRules = dict[str, tuple[tuple[str, bool, timedelta, int], ...]]


def _caps(config: PlansConfig) -> CapRules:
    """Per channel: ``(label, counts over all channels, window, cap)`` of every cap that applies."""
    return cap_rules(config.policy)


def cap_rules(policy: PolicyConfig) -> CapRules:
    """The cap rules of ``policy`` per channel (a pilot arm's contact-pressure override compiles here too)."""
    from cvm.config.plans import CHANNELS

    out = {}
    for channel in CHANNELS:
        rules = []
        for key in ("all", channel):
            if key == "all" and channel in policy.exempt_from_total:
                continue
            caps = policy.caps.get(key)
            if caps is not None:
                rules += [(f"{key}/{n}", key == "all", timedelta(days=d), c) for n, d, c in caps.windows()]
        out[channel] = tuple(rules)
    return out


def _build(config: PlansConfig) -> Runtime:
    policy = config.policy
    return Runtime(
        config=config,
        plans=tuple(_plan(n, p, config) for n, p in config.active.items()),
        suppress=tuple(
            SuppressRuntime(n, rule(s.when, "bool"), frozenset(s.objectives), frozenset(s.channels), s.reason or s.when)
            for n, s in sorted(policy.suppress.items())
        ),
        caps=_caps(config),
        exempt=frozenset(policy.exempt_from_total),
        quiet_channels=frozenset(policy.quiet_hours.channels),
    )


_CACHE: dict[int, Runtime] = {}
_LOCK = Lock()


def runtime(config: PlansConfig) -> Runtime:
    """The compiled form of ``config`` (built on first use)."""
    hit = _CACHE.get(id(config))
    if hit is not None and hit.config is config:
        return hit
    built = _build(config)
    with _LOCK:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[id(config)] = built
    return built
