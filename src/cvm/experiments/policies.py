"""Target policies for off-policy evaluation: pure functions from a logged decision to a distribution over actions.

A policy maps one :class:`~cvm.contracts.decisionlog.DecisionRecord` (its candidates and their worth
terms) to the probability of each action id, and of :data:`~cvm.contracts.decisionlog.NO_ACTION`;
the probabilities sum to 1. Only the eligible candidates can be chosen (a cap, quiet hours or the
credit cut-off removed the others, whatever the policy).

- ``none``: never act;
- ``propensity``: the eligible candidate with the highest ``ev_propensity`` (p × value × margin − cost),
  or no action when no value exceeds the policy minimum (``plans.policy.min_expected_value``);
- ``incremental``: the eligible candidate with the highest ``ev_incremental`` (uplift − cost − fatigue −
  expected credit loss), where no uplift model scored it its ``ev_propensity`` less fatigue and credit loss
  (:meth:`~cvm.contracts.decisionlog.CandidateTerms.rank_value`: the value ``decide`` ranks on), or no action
  when no value exceeds the policy minimum (0 by default: "none positive");
- ``current``: the configured arbitration mixed with its exploration share ε: (1 − ε) × its greedy choice
  + ε × a uniform choice among the eligible candidates and no action (the holdout ladder's ``explore`` rung).

Ties go to the first candidate in the record's order, as the allocator's stable sort does.
Capacity shared across customers (the allocator's remaining-capacity limit) is ignored: each decision is
evaluated on its own, as if capacity never ran out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Literal, get_args

from cvm.contracts.decisionlog import NO_ACTION, Arbitration, CandidateTerms, DecisionRecord
from cvm.errors import BadValueError

Policy = Callable[[DecisionRecord], dict[str, float]]
"""A target policy: a logged decision → probability of each action id (and of ``"none"``)."""

PolicyName = Literal["none", "propensity", "incremental", "current"]
POLICY_NAMES: tuple[str, ...] = get_args(PolicyName)


def eligible(record: DecisionRecord) -> list[CandidateTerms]:
    """The candidates a policy may choose, in the record's order (one per action id)."""
    seen: set[str] = set()
    out = []
    for c in record.candidates:
        if c.eligible and c.action != NO_ACTION and c.action not in seen:
            seen.add(c.action)
            out.append(c)
    return out


def greedy(record: DecisionRecord, arbitration: Arbitration, minimum: float = 0.0) -> str:
    """The action a greedy policy picks: the highest worth above ``minimum`` (first on ties), else ``"none"``."""
    best, best_worth = NO_ACTION, minimum
    for c in eligible(record):
        w = c.rank_value(arbitration)
        if w > best_worth:
            best, best_worth = c.action, w
    return best


def no_action(record: DecisionRecord) -> dict[str, float]:
    """The ``none`` policy: never act."""
    return {NO_ACTION: 1.0}


def greedy_policy(record: DecisionRecord, arbitration: Arbitration, minimum: float = 0.0) -> dict[str, float]:
    """A deterministic policy: probability 1 on :func:`greedy`'s choice."""
    return {greedy(record, arbitration, minimum): 1.0}


def exploring_policy(
    record: DecisionRecord, arbitration: Arbitration, exploration: float, minimum: float = 0.0
) -> dict[str, float]:
    """(1 − ε) × the greedy choice + ε × uniform over the eligible candidates and ``"none"``."""
    if not 0.0 <= exploration <= 1.0:
        raise ValueError(f"exploration must lie in [0, 1], not {exploration}")
    choices = [NO_ACTION, *(c.action for c in eligible(record))]
    if len(choices) == 1:
        return {NO_ACTION: 1.0}
    out = dict.fromkeys(choices, exploration / len(choices))
    pick = greedy(record, arbitration, minimum)
    out[pick] += 1.0 - exploration
    return out


def configured(settings: Any) -> tuple[Arbitration, float, float]:
    """The arbitration, exploration share and policy minimum configured in ``settings`` (a :class:`Settings`).

    Read by name where they exist: ``plans.arbitration``, the holdout ladder's ``experiments.ladder.exploration``
    and ``plans.policy.min_expected_value``; absent, ``propensity``, 0 and 0, as before issue 18.
    """
    plans = getattr(settings, "plans", None)
    arbitration = getattr(plans, "arbitration", "propensity")
    ladder = getattr(getattr(settings, "experiments", None), "ladder", None)
    exploration = getattr(ladder, "exploration", 0.0)
    minimum = float(getattr(getattr(plans, "policy", None), "min_expected_value", 0.0))
    arb: Arbitration = "incremental" if arbitration == "incremental" else "propensity"
    return arb, float(exploration or 0.0), minimum


def policy_named(
    name: str, arbitration: Arbitration = "propensity", exploration: float = 0.0, minimum: float = 0.0
) -> Policy:
    """The target policy called ``name`` (``current`` uses ``arbitration`` and ``exploration``).

    Raises
    ------
    ValueError
        ``name`` is not one of :data:`POLICY_NAMES`.
    """
    if name == "none":
        return no_action
    if name in ("propensity", "incremental"):
        return partial(greedy_policy, arbitration=name, minimum=minimum)  # type: ignore[arg-type]
    if name == "current":
        return partial(exploring_policy, arbitration=arbitration, exploration=exploration, minimum=minimum)
    raise BadValueError(f"unknown policy {name!r}: use one of {', '.join(POLICY_NAMES)}")


def expected_contacts(distribution: Mapping[str, float]) -> float:
    """The probability that the policy acts at all (1 − P(no action))."""
    return float(sum(p for a, p in distribution.items() if a != NO_ACTION))
