"""Policies: off-policy evaluation of the target policies on the logged decisions (``cvm policy``)."""

from __future__ import annotations

from typing import Any

from cvm.config.uplift import UpliftOutcome
from cvm.experiments import ope_report
from cvm.experiments.ope import TruthProvider
from cvm.experiments.ope_log import read_log
from cvm.experiments.policies import configured
from cvm.scoring.uplift_replay import champion_replay
from cvm.scoring.uplift_values import component_outcomes, evaluation_values
from cvm.services.workspace import Workspace


class PolicyService:
    """What a target policy would have earned, estimated from the decision log and its outcomes."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def _evaluation(self, truth: TruthProvider | None, outcome: UpliftOutcome | None) -> ope_report.Evaluation:
        records, outcomes = read_log(self.ws.offline)
        s = self.ws.settings
        if outcome == "components":
            values = evaluation_values(s.plans, s.scoring.cost_to_serve.complaint)
            outcomes = component_outcomes(records, outcomes, values)
        truth = truth if truth is not None else ope_report.find_truth(self.ws.root)
        records, note = champion_replay(self.ws.root, records)
        evaluation = ope_report.Evaluation(records, outcomes, *configured(self.ws.settings), truth=truth)
        if note is not None:
            evaluation.extra_notes.append(note)
        return evaluation

    def evaluate(
        self,
        policy: str,
        bootstrap: int = 0,
        truth: TruthProvider | None = None,
        outcome: UpliftOutcome | None = None,
        versus: str | None = None,
    ) -> dict[str, Any]:
        """One policy's IPS, SNIPS and DR estimates per 1,000 eligible customers (``truth``: the demo's by default).

        ``bootstrap`` > 0 adds customer-bootstrap intervals of the incremental estimates, from that many resamples.
        ``outcome`` is the reward: the realised ``margin``, or the value-weighted events (``components``,
        :func:`~cvm.scoring.uplift_values.component_outcomes`); default ``margin``, which assumes nothing.
        ``versus`` adds the paired difference against that policy, on the same decisions.
        """
        chosen = outcome or "margin"
        result = ope_report.evaluate(self._evaluation(truth, chosen), policy, bootstrap, versus)
        return {**result, "outcome": chosen}

    def compare(self, truth: TruthProvider | None = None, outcome: UpliftOutcome | None = None) -> dict[str, Any]:
        """No action, propensity, incremental and the current configuration side by side (``outcome`` as above)."""
        chosen = outcome or "margin"
        return {**ope_report.compare(self._evaluation(truth, chosen)), "outcome": chosen}

    def verdicts(
        self, policy: str = "incremental", versus: str = "propensity", truth: TruthProvider | None = None
    ) -> list[dict[str, Any]]:
        """``policy`` against ``versus`` on the same decisions, once per reward (the realised ``margin``, then the
        valued events, ``components``): the paired estimates, verdict and true difference, each with its
        ``outcome``. What ``cvm demo`` ends with."""
        rewards: tuple[UpliftOutcome, ...] = ("margin", "components")
        return [{**self._evaluation(truth, r).versus(policy, versus), "outcome": r} for r in rewards]
