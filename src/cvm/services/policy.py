"""Policies: off-policy evaluation of the target policies on the logged decisions (``cvm policy``)."""

from __future__ import annotations

from typing import Any

from cvm.experiments import ope_report
from cvm.experiments.ope import TruthProvider
from cvm.experiments.ope_log import read_log
from cvm.experiments.policies import configured
from cvm.services.workspace import Workspace


class PolicyService:
    """What a target policy would have earned, estimated from the decision log and its outcomes."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def _evaluation(self, truth: TruthProvider | None) -> ope_report.Evaluation:
        records, outcomes = read_log(self.ws.offline)
        truth = truth if truth is not None else ope_report.find_truth(self.ws.root)
        return ope_report.Evaluation(records, outcomes, *configured(self.ws.settings), truth=truth)

    def evaluate(self, policy: str, bootstrap: int = 0, truth: TruthProvider | None = None) -> dict[str, Any]:
        """One policy's IPS, SNIPS and DR estimates per 1,000 eligible customers (``truth``: the demo's by default).

        ``bootstrap`` > 0 adds customer-bootstrap intervals of the incremental estimates, from that many resamples.
        """
        return ope_report.evaluate(self._evaluation(truth), policy, bootstrap)

    def compare(self, truth: TruthProvider | None = None) -> dict[str, Any]:
        """No action, propensity, incremental and the current configuration side by side."""
        return ope_report.compare(self._evaluation(truth))
