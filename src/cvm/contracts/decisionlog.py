"""The decision-log contract: what every decision records so that CVM can learn from it.

One :class:`DecisionRecord` per call of :func:`cvm.plans.decide.decide` that had at least
one candidate (batch and real time alike). It carries each candidate with the terms of
its worth (:class:`CandidateTerms`), the action the policy chose (or none), the
probability with which the policy chose it (exploration included), the rung of the
holdout ladder the customer stood on, and the versions of the policy and of the models.

Three stages meet here:

- the plans stage writes records (``decide`` builds them; the batch cycle and the events
  API append them to the online store's ``decision_log``, append-only);
- the uplift models learn from them (the logged randomised decisions and their
  propensities, joined to outcomes);
- off-policy evaluation replays any target policy over them (inverse propensity and
  doubly robust estimators need exactly ``probability`` and the candidates' terms).

A record is plain values and JSON-serialisable (:meth:`DecisionRecord.to_dict`,
:meth:`DecisionRecord.from_dict`). This module imports nothing internal to CVM.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

Rung = Literal["global_holdout", "plan_holdout", "explore", "exploit"]
"""Where the customer stood on the holdout ladder for this decision.

``global_holdout``: permanently held out of all marketing (nothing chosen, probability 1).
``plan_holdout``: held out of one plan (its candidate is dropped before arbitration).
``explore``: the randomised share of eligible decisions, chosen uniformly among the
eligible candidates and "no action". ``exploit``: the policy's own choice.
"""

Arbitration = Literal["incremental", "propensity"]
Path = Literal["batch", "realtime"]

NO_ACTION = "none"
"""The action id of "no action" in :attr:`DecisionRecord.chosen` and in target policies."""


def uplift_attribute(action_id: str) -> str:
    """The customer attribute holding the predicted uplift of ``action_id``: ``uplift_<slug>``.

    >>> uplift_attribute("Retention.Call-Back")
    'uplift_retention_call_back'
    """
    return "uplift_" + re.sub(r"[^0-9a-zA-Z]+", "_", action_id).strip("_").lower()


@dataclass(frozen=True)
class CandidateTerms:
    """One candidate action of a decision and the terms of its worth.

    ``ev_propensity = propensity × value × margin − cost`` is the propensity policy's
    ranking value. ``uplift`` is the predicted incremental margin over the horizon of this
    action against no action (conversion and retention effects together, in currency), and
    ``ev_incremental = uplift − cost − fatigue_cost − expected_credit_loss`` is the
    incremental policy's (``None`` when no uplift model scored this action: the policy then
    falls back to ``ev_propensity`` and says so).
    ``eligible`` is ``False`` for a candidate that a hard constraint (cap, quiet hours
    that expire it, credit cut-off) removed; ``blocked`` says which.
    """

    action: str
    plan: str
    step: str
    channel: str
    objective: str
    propensity: float
    value: float
    margin: float
    cost: float
    ev_propensity: float
    uplift: float | None = None
    fatigue_cost: float = 0.0
    expected_credit_loss: float = 0.0
    ev_incremental: float | None = None
    eligible: bool = True
    blocked: str | None = None

    def with_uplift(self, uplift: float | None) -> CandidateTerms:
        """These terms with ``uplift`` and its ``ev_incremental`` (``None`` without an uplift)."""
        if uplift is None:
            return replace(self, uplift=None, ev_incremental=None)
        ev = uplift - self.cost - self.fatigue_cost - self.expected_credit_loss
        return replace(self, uplift=uplift, ev_incremental=ev)

    def rank_value(self, arbitration: Arbitration) -> float:
        """What a policy of this arbitration ranks the candidate on.

        ``propensity``: ``ev_propensity``. ``incremental``: ``ev_incremental``; without an uplift, the
        propensity value less the fatigue cost and expected credit loss (the fallback the reasons state).
        """
        if arbitration == "propensity":
            return self.ev_propensity
        if self.ev_incremental is not None:
            return self.ev_incremental
        return self.ev_propensity - self.fatigue_cost - self.expected_credit_loss


@dataclass(frozen=True)
class DecisionRecord:
    """One logged decision: candidates, choice, the probability of that choice, versions.

    ``probability`` is the probability with which the logging policy chose ``chosen``
    given these candidates (``chosen`` is :data:`NO_ACTION` when nothing was sent). It
    must equal the true selection probability: a replay of the policy reproduces it.
    ``context`` holds the numeric customer attributes the uplift models use, as they
    were at decision time, so that training needs nothing but the log and outcomes.
    """

    decision_id: str
    customer_id: str
    decided_at: datetime
    path: Path
    arbitration: Arbitration
    policy_version: str
    rung: Rung
    chosen: str
    probability: float
    candidates: tuple[CandidateTerms, ...]
    model_versions: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, float] = field(default_factory=dict)
    exploration: float = 0.0
    """The exploration share in force (the chance of a uniform choice among eligible actions and none)."""

    @property
    def chosen_cost(self) -> float:
        """The contact cost of the chosen action (0 for no action)."""
        return next((c.cost for c in self.candidates if c.action == self.chosen), 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (``decided_at`` as ISO 8601)."""
        out = asdict(self)
        out["decided_at"] = self.decided_at.isoformat()
        out["model_versions"] = dict(self.model_versions)
        out["context"] = dict(self.context)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecisionRecord:
        """The inverse of :meth:`to_dict`."""
        cands = tuple(CandidateTerms(**c) for c in data["candidates"])
        at = data["decided_at"]
        decided = at if isinstance(at, datetime) else datetime.fromisoformat(at)
        rest = {k: v for k, v in data.items() if k not in ("candidates", "decided_at")}
        return cls(candidates=cands, decided_at=decided, **rest)


@dataclass(frozen=True)
class DecisionOutcome:
    """What followed one logged decision over the learning horizon (one row of ``decision_outcomes``).

    ``margin`` is the customer's margin over ``horizon_days`` after the decision, net of the
    contact's cost, in currency; the uplift models learn its difference between an action and
    no action. The flags feed the fatigue model (``unsubscribed``, ``complained``) and credit
    risk (``defaulted``). ``source`` is ``hub`` when built from the customer data, or
    ``simulated`` when the demo drew it from its ground truth.
    """

    decision_id: str
    customer_id: str
    chosen: str
    horizon_days: int
    margin: float
    converted: bool = False
    churned: bool = False
    defaulted: bool = False
    unsubscribed: bool = False
    complained: bool = False
    source: Literal["hub", "simulated"] = "hub"


OUTCOME_COLUMNS: tuple[str, ...] = tuple(DecisionOutcome.__dataclass_fields__)
"""Columns of the offline table ``decision_outcomes``, in order."""
