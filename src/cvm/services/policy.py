"""Policies: off-policy evaluation of the target policies on the logged decisions (``cvm policy``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cvm.config.uplift import UpliftOutcome
from cvm.contracts.decisionlog import DecisionOutcome, DecisionRecord
from cvm.experiments import ope_report
from cvm.experiments.ope import TruthProvider
from cvm.experiments.ope_log import read_log
from cvm.experiments.policies import configured
from cvm.scoring.uplift_replay import champion_replay
from cvm.scoring.uplift_values import component_outcomes, evaluation_values
from cvm.services.workspace import Workspace


@dataclass(frozen=True)
class _Logged:
    """The decision log as read (``records``, ``outcomes``), the records the uplift champion prices
    (``replayed``, with its ``note``), and the demo's ``truth`` when there is one."""

    records: list[DecisionRecord]
    outcomes: dict[str, DecisionOutcome]
    replayed: list[DecisionRecord]
    truth: TruthProvider | None
    note: str | None


class PolicyService:
    """What a target policy would have earned, estimated from the decision log and its outcomes."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def _logged(self, truth: TruthProvider | None) -> _Logged:
        """The log, its champion-priced records and the demo's truth: read once, whatever the reward."""
        records, outcomes = read_log(self.ws.offline)
        truth = truth if truth is not None else ope_report.find_truth(self.ws.root)
        replayed, note = champion_replay(self.ws.root, records)
        return _Logged(records, outcomes, replayed, truth, note)

    def _evaluation(
        self, truth: TruthProvider | None, outcome: UpliftOutcome | None, logged: _Logged | None = None
    ) -> ope_report.Evaluation:
        log = logged or self._logged(truth)
        outcomes = log.outcomes
        if outcome == "components":
            s = self.ws.settings
            values = evaluation_values(s.plans, s.scoring.cost_to_serve.complaint)
            outcomes = component_outcomes(log.records, outcomes, values)
        evaluation = ope_report.Evaluation(log.replayed, outcomes, *configured(self.ws.settings), truth=log.truth)
        if log.note is not None:
            evaluation.extra_notes.append(log.note)
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
        log = self._logged(truth)
        return [{**self._evaluation(truth, r, log).versus(policy, versus), "outcome": r} for r in rewards]
