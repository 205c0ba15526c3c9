"""The holdout ladder inside one decision: which rung the customer stands on, and the exploration draw.

The rungs, top down (``docs/decision-log.md``):

1. **global holdout** (``experiments.holdout_share``): no marketing step at all, permanently
   (:mod:`cvm.plans.pilots`, experiment ``global``);
2. **plan holdout** (``experiments.ladder.plan_holdout``): no marketing step of that plan,
   permanently (experiment ``plan:<name>``);
3. **explore** (``experiments.ladder.exploration = ε``): the decision is drawn uniformly among the
   eligible candidates and no action (:func:`cvm.plans.explore.draw`);
4. **exploit**: the policy's own (greedy) choice.

Rungs 1 and 2 and pilot arms are persistent assignments made by bucket hash; the draw of rung 3 is
per decision (hash of the customer and the decision key). Exploration applies only when every
candidate is a marketing step: a service or transactional message is never randomised away. An
"eligible" candidate is one no contact cap blocks at its send time (quiet hours only defer).

When exploration draws no action, every candidate's step is skipped (the plan moves on as if it had
been sent, like a holdout arm), so that "no action" is a clean control for the uplift models.

Imports from a sibling stage: :mod:`cvm.experiments.assign` (the key of the global holdout), as the
deterministic assignment is one pure function for deciding and for analysing the rungs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cvm.contracts.decisionlog import Rung
from cvm.experiments.assign import GLOBAL
from cvm.plans.arbitrate import Candidate, Verdict
from cvm.plans.explore import draw
from cvm.plans.policy import CapBook

PLAN_HOLDOUT = "holdout:plan:"


def action_id(cand: Candidate) -> str:
    """The action id of a candidate: ``step.action`` or ``<plan>.<step>``."""
    return cand.step.action or f"{cand.plan}.{cand.step.name}"


@dataclass
class Ladder:
    """The outcome of the ladder for one decision."""

    verdicts: list[Verdict]
    chosen: Candidate | None = None
    probability: float = 1.0
    explored: bool = False
    skip: bool = False
    """Exploration drew no action: the candidates' steps are skipped, not held."""
    blocked: dict[tuple[str, str], str] = field(default_factory=dict)
    """:func:`slot` of a candidate → the cap that blocks it (not eligible)."""
    epsilon: float = 0.0
    """The exploration share applied to this decision (0 when a candidate is not a marketing step)."""


def slot(candidate: Candidate) -> tuple[str, str]:
    """A candidate's key in :attr:`Ladder.blocked`: its plan and step (one candidate per plan and decision).

    Not ``id(candidate)``: the arbitration returns a blocked candidate as a new object (``Candidate.blocked``),
    so an id-keyed map missed every capped candidate and exploration could draw it past its cap.
    """
    return candidate.plan, candidate.step.name


def blocked_of(
    candidates: Sequence[Candidate], book: CapBook, send_at: Callable[[str], datetime]
) -> dict[tuple[str, str], str]:
    """:func:`slot` → the cap that blocks the candidate on its own; call before the arbitration books contacts."""
    out: dict[tuple[str, str], str] = {}
    for c in candidates:
        hit = book.blocking(c.step.channel, send_at(c.step.channel), c.caps)
        if hit is not None:
            out[slot(c)] = hit[0]
    return out


def apply(
    verdicts: list[Verdict],
    blocked: dict[tuple[str, str], str],
    send_at: Callable[[str], datetime],
    epsilon: float,
    u: float,
) -> Ladder:
    """Apply the exploration draw to the greedy verdicts (``blocked`` from :func:`blocked_of`)."""
    out = Ladder(verdicts, blocked=blocked)
    eligible = [v.candidate for v in verdicts if slot(v.candidate) not in out.blocked]
    first = next((v.candidate for v in verdicts if v.chosen), None)
    greedy = next((i for i, c in enumerate(eligible) if c is first), len(eligible))  # by identity: fast and exact
    marketing = all(v.candidate.step.kind == "marketing" for v in verdicts)
    out.epsilon = epsilon if marketing else 0.0
    d = draw([action_id(c) for c in eligible], greedy, out.epsilon, u)
    out.probability, out.explored = d.probability, d.explored
    out.chosen = eligible[d.index] if d.index < len(eligible) else None
    if not d.explored:
        out.chosen = first  # the greedy choice (the first accepted when several are)
        return out
    k = len(eligible)
    if out.chosen is None:
        reason = f"explore: no action drawn at random (1 of {k + 1} options, exploration {epsilon:g})"
        out.verdicts = [Verdict(v.candidate, False, v.send_at, reason) for v in verdicts]
        out.skip = True
        return out
    pick = out.chosen
    won = f"explore: drawn uniformly among {k} eligible actions and no action (exploration {epsilon:g})"
    lost = f"explore: {pick.plan}.{pick.step.name} drawn at random"
    out.verdicts = [
        Verdict(v.candidate, True, send_at(pick.step.channel), won)
        if v.candidate is pick
        else Verdict(v.candidate, False, v.send_at, lost)
        for v in verdicts
    ]
    return out


def rung(held_reasons: Sequence[str], explored: bool) -> Rung:
    """The customer's rung for this decision from the holdout reasons of their skipped candidates."""
    if f"holdout:{GLOBAL}" in held_reasons:
        return "global_holdout"
    if any(r.startswith(PLAN_HOLDOUT) for r in held_reasons):
        return "plan_holdout"
    return "explore" if explored else "exploit"
