"""THE SEAM the lead swaps at merge: the demo replay's only door to the decision log, exploration and OPE.

Issue 18 builds the decision log and the holdout ladder (h-log), the uplift models (h-uplift) and
off-policy evaluation (h-ope) in parallel. Until they are merged, the demo replay and
``bench/policy.py`` reach those parts only through the functions below, which implement the fixed
interfaces of DESIGN18 with the least code that honours them:

- :func:`unit` is the DESIGN18 hash rule ``u = int(sha256(f"{salt}|{customer_id}|{key}")[:15], 16) / 16**15``;
- :func:`decide_logged` calls the REAL pure :func:`cvm.plans.decide.decide` and builds its
  :class:`~cvm.contracts.decisionlog.DecisionRecord` (global holdout, then exploration: a uniform choice
  among the eligible candidates and "none" with probability ``exploration``, else the policy's own choice).
  At merge: h-log's ``decide`` returns ``Decision.record`` itself; replace the body by reading it.
- :func:`ips` is a plain inverse-propensity estimate of a policy's incremental value with a normal 95%
  CI. At merge: call h-ope's estimators (``cvm.experiments.ope``) instead.
- :func:`learned_uplift` returns ``None`` until h-uplift's per-action models exist (TODO at merge).

Nothing else in the demo knows how the log is built, so the swap is this one file.

Imports from a sibling stage: :mod:`cvm.plans` (``decide`` and its walk of the candidates): the replay
logs the real decision, not a copy of it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from cvm.config.plans import PlansConfig
from cvm.contracts.actions import Decision
from cvm.contracts.decisionlog import NO_ACTION, CandidateTerms, DecisionRecord, Rung
from cvm.contracts.decisions import CustomerState
from cvm.plans.decide import _Run, decide

POLICY_VERSION = "demo-replay/1"
EXPLORE_SALT = "cvm-explore"
HOLDOUT_SALT = "cvm-holdout"


def unit(salt: str, customer_id: str, key: str) -> float:
    """The DESIGN18 hash rule: a stable uniform number in [0, 1) for (salt, customer, decision key)."""
    digest = hashlib.sha256(f"{salt}|{customer_id}|{key}".encode()).hexdigest()
    return int(digest[:15], 16) / 16**15


def uplift_attribute(action_id: str) -> str:
    """``uplift_<slug>``: the customer attribute carrying an action's predicted uplift (DESIGN18 rule)."""
    return "uplift_" + re.sub(r"[^0-9a-zA-Z]+", "_", action_id).strip("_").lower()


@dataclass(frozen=True)
class Ladder:
    """The rungs the replay applies: a permanent global holdout share and the exploration share."""

    holdout: float = 0.05
    exploration: float = 0.10
    salt: str = EXPLORE_SALT


def _candidates(config: PlansConfig, state: CustomerState, now: datetime) -> tuple[CandidateTerms, ...]:
    """The arbitrated candidates of one decision with their worth terms (the same walk ``decide`` makes)."""
    out = []
    for v in _Run(config, state, now, ()).go():
        cand, step = v.candidate, v.candidate.step
        p, val, m, cost = cand.terms
        action = step.action or f"{cand.plan}.{step.name}"
        raw = state.attributes.get(uplift_attribute(action))
        blocked = "cap" if not v.chosen and v.reason.startswith("cap:") else None
        out.append(
            CandidateTerms(
                action=action,
                plan=cand.plan,
                step=step.name,
                channel=step.channel,
                objective=step.objective,
                propensity=p,
                value=val,
                margin=m,
                cost=cost,
                ev_propensity=cand.expected_value,
                uplift=None if raw is None else float(raw),
                eligible=blocked is None,
                blocked=blocked,
            )
        )
    return tuple(out)


def decide_logged(
    config: PlansConfig,
    state: CustomerState,
    now: datetime,
    ladder: Ladder,
    context: Mapping[str, float] | None = None,
) -> tuple[Decision, DecisionRecord | None, str]:
    """Decide for one customer with the real ``decide`` and log it: (decision, record, action actually taken).

    The record is ``None`` when the decision had no candidate. The action taken differs from the
    decision's own choice on the global-holdout and explore rungs (the replay sends the taken one); the
    plan state is the decision's own (the exploit choice advances its plan), until h-log's ``decide``
    applies the ladder itself. The candidates come from a second walk of ``decide``'s private ``_Run``
    (the only way to read their worth terms before h-log's record exists): twice the cost of one decision.
    """
    decision = decide(config, state, now)
    cands = _candidates(config, state, now)
    if not cands:
        return decision, None, NO_ACTION
    cid, key = state.customer_id, now.date().isoformat()
    greedy = decision.actions[0].action if decision.actions else NO_ACTION
    options = [c.action for c in cands if c.eligible] + [NO_ACTION]
    rung: Rung
    if unit(HOLDOUT_SALT, cid, "global") < ladder.holdout:
        rung, chosen, prob = "global_holdout", NO_ACTION, 1.0
    else:
        u = unit(ladder.salt, cid, key)
        explore = u < ladder.exploration
        rung = "explore" if explore else "exploit"
        chosen = options[min(int(u / ladder.exploration * len(options)), len(options) - 1)] if explore else greedy
        prob = (1.0 - ladder.exploration) * (chosen == greedy) + ladder.exploration / len(options)
    record = DecisionRecord(
        decision_id=hashlib.sha256(f"{cid}|{now.isoformat()}".encode()).hexdigest()[:32],
        customer_id=cid,
        decided_at=now,
        path="batch",
        arbitration=getattr(config, "arbitration", "propensity"),
        policy_version=POLICY_VERSION,
        rung=rung,
        chosen=chosen,
        probability=prob,
        candidates=cands,
        context=dict(context or {}),
        exploration=ladder.exploration if rung != "global_holdout" else 0.0,
    )
    return decision, record, chosen


def selection_probabilities(record: DecisionRecord, exploration: float) -> dict[str, float]:
    """The logging policy's probability of every option of a record (greedy = the exploit choice)."""
    options = [c.action for c in record.candidates if c.eligible] + [NO_ACTION]
    if record.rung == "global_holdout":
        return {o: float(o == NO_ACTION) for o in options}
    greedy = greedy_propensity(record)
    return {o: (1.0 - exploration) * (o == greedy) + exploration / len(options) for o in options}


def greedy_propensity(record: DecisionRecord) -> str:
    """The propensity policy's choice: the eligible candidate of highest expected value (ties by name)."""
    eligible = [c for c in record.candidates if c.eligible]
    if not eligible:
        return NO_ACTION
    return min(eligible, key=lambda c: (-c.ev_propensity, c.plan, c.step)).action


def ips(
    chosen: Sequence[str], probability: Any, reward: Any, target: Sequence[str], baseline: Sequence[str] | None = None
) -> tuple[float, float, float]:
    """IPS estimate (and 95% CI) of the mean reward of ``target`` minus that of ``baseline`` (default: none).

    Horvitz & Thompson (1952); for policies, Dudík, Langford & Li (2011). At merge: h-ope's estimators.
    """
    p, r = np.asarray(probability, dtype=float), np.asarray(reward, dtype=float)
    a = np.asarray(chosen, dtype=object)
    base = np.asarray(baseline if baseline is not None else [NO_ACTION] * len(a), dtype=object)
    d = ((a == np.asarray(target, dtype=object)).astype(float) - (a == base).astype(float)) * r / p
    est = float(d.mean())
    half = 1.96 * float(d.std(ddof=1)) / np.sqrt(max(d.size, 1))
    return est, est - half, est + half


def learned_uplift(records: Sequence[DecisionRecord]) -> Mapping[str, Sequence[float]] | None:
    """Predicted uplift per action for ``records`` from the trained per-action models.

    TODO(merge, h-uplift): call ``cvm.models.uplift_multi`` / ``cvm.scoring.uplift`` here. Until then
    there is no learned model and the bench shows the learned-uplift row as not available.
    """
    return None
