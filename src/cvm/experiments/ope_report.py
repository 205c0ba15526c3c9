"""``cvm policy evaluate`` and ``cvm policy compare``: off-policy estimates of the target policies, as plain data.

Values are the incremental margin (versus no action) per 1,000 eligible decisions, one decision per eligible
customer and cycle. The headline ``estimate`` of ``compare`` is the doubly robust one. ``true_value`` is the
ground truth's (SIMULATED), present only when a :class:`~cvm.experiments.ope.TruthProvider` is: in the
demo workspace, whose ground truth implements it (:func:`find_truth`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cvm.contracts.decisionlog import Arbitration, DecisionOutcome, DecisionRecord
from cvm.errors import NotFoundError
from cvm.experiments import ope
from cvm.experiments.policies import POLICY_NAMES, policy_named

PER = 1000
HEADLINE = "dr"
TRUTH_MODULE, TRUTH_LOADER = "cvm.demo.oracle", "truth_provider"
"""Where the demo's ground truth offers ``truth_provider(workspace: Path) -> TruthProvider | None``."""


class NoLogError(NotFoundError, LookupError):
    """The decision log holds nothing to evaluate yet."""


def find_truth(workspace: Path) -> ope.TruthProvider | None:
    """The demo's ground truth for this workspace, or ``None`` outside a demo workspace (or without one)."""
    if not (workspace / "demo-data" / "ground_truth" / "meta.json").exists():
        return None
    try:
        loader = getattr(importlib.import_module(TRUTH_MODULE), TRUTH_LOADER)
    except (ImportError, AttributeError):
        return None
    provider: ope.TruthProvider | None = loader(workspace)
    return provider


class Evaluation:
    """The log as arrays once, one shared reward model, then any target policy."""

    def __init__(
        self,
        records: Sequence[DecisionRecord],
        outcomes: Mapping[str, DecisionOutcome],
        arbitration: Arbitration,
        exploration: float,
        minimum: float,
        truth: ope.TruthProvider | None = None,
    ) -> None:
        if not records:
            raise NoLogError(
                "no logged decisions yet: run `cvm run` with exploration on (the holdout ladder's exploration "
                "share above 0) so the decision log holds randomised decisions to learn from"
            )
        self.data, self.records = ope.bandit_from_log(records, outcomes)
        if self.data.n < 2:
            raise NoLogError(
                f"{len(records)} decisions logged but only {self.data.n} eligible with an outcome yet "
                "(outcomes are measured over the horizon after each decision): run `cvm run` again later"
            )
        self.config = (arbitration, exploration, minimum)
        self.gain = ope.true_gains(truth, self.records, self.data) if truth is not None else None
        self.logged = len(records)
        self.q = ope.cross_fit_rewards(self.data)
        self.extra_notes: list[str] = []
        self._targets: dict[str, np.ndarray] = {}

    def notes(self) -> list[str]:
        """What the reader should know about the log."""
        out = [f"{self.data.n:,} of {self.logged:,} logged decisions evaluated (eligible, outside the global "
               "holdout, with an outcome); 95% intervals clustered by customer, wider where a few customers weigh "
               "most"]  # fmt: skip
        if bool(np.all(self.data.propensity >= 1.0)):
            out.append("the log holds no randomised decision: a policy that differs from the logged one cannot be "
                       "estimated; turn exploration on and run `cvm run` again")  # fmt: skip
        return out + self.extra_notes

    def target(self, name: str) -> np.ndarray:
        """π(a | x_i) of the named policy over the evaluated decisions (computed once per policy)."""
        if name not in self._targets:
            policy = policy_named(name, *self.config)
            self._targets[name] = ope.target_matrix(policy, self.records, self.data.actions)
        return self._targets[name]

    def policy(self, name: str, bootstrap: int = 0) -> dict[str, Any]:
        """One policy's estimates per 1,000 eligible decisions, with every estimator (``bootstrap``: resamples)."""
        target = self.target(name)
        result = ope.evaluate(self.data, target, self.q, bootstrap)
        out = {"name": name, **ope.to_dict(result, PER), "true_value": None}
        if self.gain is not None:
            out["true_value"] = ope.true_incremental(self.gain, target) * PER
        return out

    def versus(self, name: str, baseline: str) -> dict[str, Any]:
        """``name`` minus ``baseline`` on the same decisions, per 1,000: paired estimates, contacts and the verdict.

        ``verdict`` is ``more`` or ``less`` when the headline interval excludes 0, else ``unsure``, with
        ``decisions_needed``: about how many evaluable decisions would separate them at the estimated difference.
        """
        target, base = self.target(name), self.target(baseline)
        diff = ope.difference(self.data, target, base, self.q)
        head = diff[HEADLINE]
        verdict = "more" if head.ci_low > 0 else "less" if head.ci_high < 0 else "unsure"
        contacts = float((target[:, 1:].sum(axis=1) - base[:, 1:].sum(axis=1)).mean())
        true = None
        if self.gain is not None:
            true = (ope.true_incremental(self.gain, target) - ope.true_incremental(self.gain, base)) * PER
        return {"name": name, "versus": baseline, "estimate": {m: e.scaled(PER).to_dict() for m, e in diff.items()},
                "contacts": contacts * PER, "true_value": true, "verdict": verdict,
                "decisions_needed": ope.decisions_needed(head, self.data.n)}  # fmt: skip


BASELINE = "propensity"
"""What ``compare`` measures the other acting policies against, pairwise: the way the commercial suites decide."""


def evaluate(evaluation: Evaluation, name: str, bootstrap: int = 0, versus: str | None = None) -> dict[str, Any]:
    """``cvm policy evaluate --json``: the policy's IPS, SNIPS and DR estimates, absolute and incremental.

    ``versus`` adds the paired difference against that policy (:meth:`Evaluation.versus`).
    """
    out = {**evaluation.policy(name, bootstrap), "per": PER, "estimator": HEADLINE, "notes": evaluation.notes()}
    if versus is not None:
        out["versus"] = evaluation.versus(name, versus)
    return out


def compare(evaluation: Evaluation) -> dict[str, Any]:
    """Every target policy with every estimator (the table of ``cvm policy compare``), the paired differences
    of the other acting policies against :data:`BASELINE`, and the notes."""
    versus = [evaluation.versus(name, BASELINE) for name in POLICY_NAMES if name not in ("none", BASELINE)]
    return {"policies": [evaluation.policy(name) for name in POLICY_NAMES], "versus": versus, "per": PER,
            "estimator": HEADLINE, "notes": evaluation.notes()}  # fmt: skip


def compare_json(result: Mapping[str, Any]) -> dict[str, Any]:
    """``cvm policy compare --json``: exactly ``{"policies": [{"name", "estimate", "contacts", "true_value"}]}``."""
    return {"policies": [{"name": p["name"], "estimate": p["incremental"][HEADLINE], "contacts": p["contacts"],
                          "true_value": p["true_value"]} for p in result["policies"]]}  # fmt: skip
