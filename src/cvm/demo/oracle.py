"""The demo's ground truth seen from the decision log: the TRUE value of any action, hence of any policy. SIMULATED.

:class:`DemoTruth` is the ``TruthProvider`` of off-policy evaluation (``cvm.experiments.ope``):
``true_value(record, action)`` is the true expected margin over the horizon of taking ``action``
(or ``"none"``) at that decision, net of the action's contact cost; only differences between actions
matter. :func:`policy_value` gives a policy's true incremental margin and contacts per 1,000
eligible decisions, and :func:`oracle_choice` the policy that knows the truth (the best any
uplift model can do). :func:`truth_provider` is the loader ``cvm policy compare`` looks for
(:data:`cvm.experiments.ope_report.TRUTH_MODULE`): it fills ``true_value`` in a demo workspace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cvm.contracts.decisionlog import NO_ACTION, CandidateTerms, DecisionRecord
from cvm.demo.effects import LABEL, Truth, action_kind, expected_margin
from cvm.demo.replay import CONTEXT_KEY, load_truth

DATA_DIR = "demo-data"
"""Where ``cvm demo`` generates the company (and its ground truth) inside the workspace."""

Policy = Callable[[DecisionRecord], str]


def _find(record: DecisionRecord, action: str) -> CandidateTerms:
    for c in record.candidates:
        if c.action == action:
            return c
    raise KeyError(f"action {action!r} is not a candidate of decision {record.decision_id}")


class DemoTruth:
    """Ground truth for logged decisions (``TruthProvider``). SIMULATED: it exists only in the demo."""

    label = LABEL

    def __init__(self, truth: Truth) -> None:
        self.truth = truth
        self._pos = {c: i for i, c in enumerate(truth.customer_id)}
        self._known: dict[tuple[str, str], float] = {}

    def true_value(self, record: DecisionRecord, action: str) -> float:
        """True expected margin over the horizon of ``action`` at ``record`` (net of its contact cost)."""
        known = self._known.get((record.decision_id, action))
        if known is not None:
            return known
        cost = 0.0 if action == NO_ACTION else _find(record, action).cost
        return float(self._margins([record], [action])[0]) - cost

    def prime(self, records: Sequence[DecisionRecord]) -> None:
        """Compute (vectorised) and remember the true value of every option of ``records``."""
        pairs = [(r, c.action, c.cost) for r in records for c in r.candidates] + [(r, NO_ACTION, 0.0) for r in records]
        margins = self._margins([p[0] for p in pairs], [p[1] for p in pairs])
        self._known.update(
            {(r.decision_id, a): float(m) - cost for (r, a, cost), m in zip(pairs, margins, strict=True)}
        )

    def _margins(self, records: Sequence[DecisionRecord], actions: Sequence[str]) -> np.ndarray:
        idx = np.fromiter((self._pos[r.customer_id] for r in records), dtype=np.int64, count=len(records))
        contacts = [float(r.context.get(CONTEXT_KEY, 0.0)) for r in records]
        kinds = [_kind(r, a) for r, a in zip(records, actions, strict=True)]
        return expected_margin(self.truth, idx, kinds, contacts)

    def incremental(self, record: DecisionRecord, action: str) -> float:
        """True incremental margin of ``action`` against no action at ``record`` (0 for ``none``)."""
        if action == NO_ACTION:
            return 0.0
        return self.true_value(record, action) - self.true_value(record, NO_ACTION)


def _kind(record: DecisionRecord, action: str) -> str:
    if action == NO_ACTION:
        return NO_ACTION
    cand = _find(record, action)
    return action_kind(action, cand.objective, cand.channel)


@dataclass(frozen=True)
class PolicyValue:
    """A policy's TRUE incremental margin and contacts per 1,000 eligible decisions (SIMULATED)."""

    name: str
    value_per_1000: float
    contacts_per_1000: float
    decisions: int


def policy_value(truth: DemoTruth, records: Sequence[DecisionRecord], name: str, policy: Policy) -> PolicyValue:
    """The true incremental margin and the contacts per 1,000 decisions of ``policy`` over ``records``."""
    truth.prime([r for r in records if (r.decision_id, NO_ACTION) not in truth._known])
    n = max(len(records), 1)
    total, contacts = 0.0, 0
    for r in records:
        action = policy(r)
        total += truth.incremental(r, action)
        contacts += action != NO_ACTION
    return PolicyValue(name, 1000.0 * total / n, 1000.0 * contacts / n, len(records))


def oracle_choice(truth: DemoTruth) -> Policy:
    """The incremental policy with the TRUE uplift: the eligible action of highest true incremental margin, if > 0."""

    def choose(record: DecisionRecord) -> str:
        best, best_value = NO_ACTION, 0.0
        for c in record.candidates:
            if c.eligible and (v := truth.incremental(record, c.action)) > best_value:
                best, best_value = c.action, v
        return best

    return choose


def truth_provider(workspace: Path) -> DemoTruth | None:
    """The ground truth of the demo company generated in ``workspace`` (SIMULATED), ``None`` when there is none."""
    data = Path(workspace) / DATA_DIR
    if not (data / "ground_truth" / "meta.json").exists():
        return None
    return DemoTruth(load_truth(data)[0])
