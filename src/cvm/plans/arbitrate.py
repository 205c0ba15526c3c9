"""Next-best-action arbitration: which of the due, allowed steps go out now.

Algorithm: greedy by value under the remaining cap capacity. The value is the one of
``plans.arbitration`` (:mod:`cvm.plans.incremental`): the expected value
``propensity × value × margin − cost``, or the incremental value
``uplift − cost − fatigue cost − expected credit loss``.

1. Hard rules run first (see :mod:`cvm.plans.decide`): eligibility, consent,
   minimum expected value and expiry skip a step; suppression rules and
   cooldowns hold it. Both are recorded as :class:`~cvm.plans.decide.Suppressed`
   with their reason.
2. The remaining candidates are sorted by a total order: expected value
   (descending), then step priority (descending), then plan name and step name
   (ascending). Ties therefore break the same way every time.
3. The sorted list is walked once. Each candidate's send time is ``now``, or the
   end of the quiet hours or days in the customer's time zone. It is accepted
   when fewer than ``policy.max_actions`` have been accepted and one more
   contact at its send time keeps every cap within bounds: per channel and over
   all channels, in rolling windows of 1, 7 and 30 days, counting the
   customer's past and planned contacts plus the ones accepted earlier in this
   walk. Otherwise it is held, with the cap that stopped it and the moment that
   cap frees up (``deferred_until``).
   A candidate sent as a pilot arm that overrides the contact pressure is
   checked against that arm's caps instead of the policy's.
4. With priced contact pressure (``reprice``, incremental mode), a candidate that
   fits the caps is priced with the fatigue cost of its contact after the ones
   accepted before it on its channel, and held when its value no longer covers
   that cost (the fatigue stop), even under the caps.

Properties (tested with hypothesis): the accepted set never breaks a cap that
the history respected, and a held candidate is never worth more than an
accepted one unless it could not have gone out alongside the higher-valued ones
accepted before it. With ``max_actions = 1`` the result is the single feasible
candidate of highest expected value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from cvm.config.plans import PolicyConfig, StepConfig
from cvm.contracts.decisionlog import CandidateTerms
from cvm.plans.policy import CapBook
from cvm.plans.runtime import CapRules


@dataclass(frozen=True)
class Candidate:
    """A due step that passed the hard rules, with its worth."""

    plan: str
    step: StepConfig
    index: int
    expected_value: float
    terms: tuple[float, float, float, float]
    started: datetime
    caps: CapRules | None = None
    """Cap rules of a pilot arm that overrides the contact pressure (``None``: the policy's)."""
    label: str | None = None
    """``pilot X: arm Y`` when the step is sent as an arm of a pilot."""
    worth: CandidateTerms | None = None
    """Every term of the candidate's worth under both modes (:mod:`cvm.plans.incremental`), as logged."""

    def blocked(self, reason: str) -> Candidate:
        """This candidate marked as removed by a hard constraint (``eligible=False``, ``blocked=reason``)."""
        if self.worth is None:
            return self
        return replace(self, worth=replace(self.worth, eligible=False, blocked=reason))

    @property
    def order(self) -> tuple[float, int, str, str]:
        return (-self.expected_value, -self.step.priority, self.plan, self.step.name)


@dataclass(frozen=True)
class Verdict:
    """The outcome of arbitration for one candidate."""

    candidate: Candidate
    chosen: bool
    send_at: datetime
    reason: str
    deferred_until: datetime | None = None


def arbitrate(
    policy: PolicyConfig,
    candidates: list[Candidate],
    book: CapBook,
    now: datetime,
    send_at: Callable[[str], datetime],
    reprice: Callable[[Candidate, int], tuple[Candidate, str | None]] | None = None,
    by: str = "expected value",
) -> list[Verdict]:
    """Accept or hold each candidate, best first; ``book`` gains the accepted contacts.

    ``send_at(channel)`` gives the first moment the channel may be used (``now`` or after quiet hours).
    ``reprice(candidate, accepted on its channel)``: the candidate priced for its contact's place in the
    walk, and why contact pressure holds it (or ``None``); ``by`` names the value in the reasons.
    """
    verdicts: list[Verdict] = []
    ranked = sorted(candidates, key=lambda c: c.order)
    accepted: list[Candidate] = []
    for cand in ranked:
        channel = cand.step.channel
        at = send_at(channel)
        if len(accepted) >= policy.max_actions:
            best = accepted[0]
            reason = f"arbitration: {best.plan}.{best.step.name} is worth more ({best.expected_value:.2f})"
            verdicts.append(Verdict(cand, False, at, reason))
            continue
        blocked = book.blocking(channel, at, cand.caps)
        if blocked is not None:
            cap, free = blocked
            until = max(free, send_at(channel)) if free else None
            reason = f"cap: {cap} reached"
            verdicts.append(Verdict(cand.blocked(reason), False, at, reason, until))
            continue
        if reprice is not None:
            cand, stop = reprice(cand, sum(1 for a in accepted if a.step.channel == channel))
            if stop is not None:
                verdicts.append(Verdict(cand.blocked(stop), False, at, stop))
                continue
        book.book(channel, at)
        accepted.append(cand)
        rank = len(accepted)
        reason = f"chosen: rank {rank} of {len(ranked)} by {by}"
        if at > now:
            reason += f"; deferred by quiet hours to {at.isoformat()}"
        verdicts.append(Verdict(cand, True, at, reason))
    return verdicts
