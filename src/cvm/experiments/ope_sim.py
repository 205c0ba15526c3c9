"""Simulated decision logs with known policy values: the check that off-policy intervals cover the truth.

A decision has a context x ~ N(0, I₂) and three actions besides no action. Each has a true mean margin

    μ(x, none) = 10 + 2·x₀,    μ(x, a) = μ(x, none) + τₐ(x) − costₐ,

with τ₁ = 3 + 2·x₁ (persuadables where x₁ is high), τ₂ = 2 − 2·x₁, τ₃ = −1.5 (sleeping dogs: acting
costs margin), costs 1, 0.5 and 0.2; the observed margin adds N(0, σ²) noise. A propensity score
favours action 3 (who would buy anyway), so ``ev_propensity`` ranks it high, while ``ev_incremental`` is
τₐ − cost plus model noise. The logging policy is the propensity policy with exploration ε, and the
logged probability is the true selection probability.

True values are expectations over the context and score noise, computed by Monte Carlo on a large
draw (:func:`true_values`); each replication draws a fresh log and estimates them with IPS, SNIPS and DR
(:func:`coverage`). Used by the unit tests and by the policy bench of issue 18.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from cvm.contracts.decisionlog import CandidateTerms, DecisionOutcome, DecisionRecord
from cvm.experiments import ope

ACTIONS = ("none", "a1", "a2", "a3")
COST = np.array([0.0, 1.0, 0.5, 0.2])
TARGETS = ("propensity", "incremental", "current")


@dataclass(frozen=True)
class Draw:
    """Contexts, true mean margins (n, A) and the two worth scores (n, A) of n decisions."""

    x: np.ndarray
    mu: np.ndarray
    ev_propensity: np.ndarray
    ev_incremental: np.ndarray


def draw(rng: np.random.Generator, n: int) -> Draw:
    """n decisions' contexts, true mean margins and scores."""
    x = rng.standard_normal((n, 2))
    base = 10 + 2 * x[:, 0]
    tau = np.column_stack([np.zeros(n), 3 + 2 * x[:, 1], 2 - 2 * x[:, 1], np.full(n, -1.5)])
    mu = base[:, None] + tau - COST
    prop = np.column_stack([np.zeros(n), 0.2 + 0.05 * x[:, 1], np.full(n, 0.15), 0.6 + 0.1 * x[:, 0]])
    ev_p = prop * 12 - COST + 0.3 * rng.standard_normal((n, 4))
    ev_i = tau - COST + 0.8 * rng.standard_normal((n, 4))
    ev_p[:, 0] = ev_i[:, 0] = 0.0
    return Draw(x, mu, ev_p, ev_i)


def greedy(worth: np.ndarray, minimum: float = 0.0) -> np.ndarray:
    """One-hot (n, A) of the argmax of ``worth`` over actions 1.. when above ``minimum``, else column 0."""
    w = worth.copy()
    w[:, 0] = minimum
    out = np.zeros_like(w)
    out[np.arange(w.shape[0]), np.argmax(w, axis=1)] = 1.0  # first on ties; column 0 wins at the minimum
    return out


def policies(d: Draw, exploration: float) -> dict[str, np.ndarray]:
    """The targets and the logging policy (``current``: propensity greedy with exploration) as (n, A) matrices."""
    na = len(ACTIONS)
    none = np.zeros_like(d.mu)
    none[:, 0] = 1.0
    prop, inc = greedy(d.ev_propensity), greedy(d.ev_incremental)
    return {"none": none, "propensity": prop, "incremental": inc,
            "current": (1 - exploration) * prop + exploration / na}  # fmt: skip


def true_values(exploration: float = 0.2, n: int = 400_000, seed: int = 12345) -> dict[str, float]:
    """Each policy's true incremental margin per decision (versus no action), by Monte Carlo."""
    d = draw(np.random.default_rng(seed), n)
    base = d.mu[:, 0].mean()
    return {name: float((p * d.mu).sum(axis=1).mean() - base) for name, p in policies(d, exploration).items()}


def simulate(rng: np.random.Generator, n: int, exploration: float = 0.2, sigma: float = 4.0, per_customer: int = 1,
             customer_sd: float = 0.0) -> tuple[ope.LoggedBandit, dict[str, np.ndarray]]:  # fmt: skip
    """One log of n decisions under the ``current`` policy, and the target matrices on it.

    ``per_customer`` consecutive decisions share a customer, whose margin carries a common N(0, customer_sd²)
    effect (the same for every action: the true values do not change, the decisions stop being independent).
    """
    d = draw(rng, n)
    pol = policies(d, exploration)
    logging = pol["current"]
    u = rng.random(n)[:, None]
    chosen = (u > np.cumsum(logging, axis=1)).sum(axis=1)
    idx = np.arange(n)
    cluster = idx // per_customer
    reward = d.mu[idx, chosen] + sigma * rng.standard_normal(n) + customer_sd * rng.standard_normal(n)[cluster]
    terms = np.stack([d.ev_propensity, d.ev_incremental, d.ev_incremental + COST,
                      np.zeros_like(d.mu), np.broadcast_to(COST, d.mu.shape)], axis=2)  # fmt: skip
    data = ope.LoggedBandit(actions=ACTIONS, chosen=chosen, propensity=logging[idx, chosen], reward=reward,
                            available=np.ones_like(d.mu, dtype=bool), features=d.x, terms=terms,
                            cluster=cluster)  # fmt: skip
    return data, pol


@dataclass(frozen=True)
class Coverage:
    """Per estimator and target: the share of replications whose 95% interval held the truth, and mean estimates."""

    replications: int
    covered: Mapping[str, Mapping[str, float]]
    mean_estimate: Mapping[str, Mapping[str, float]]
    truth: Mapping[str, float]


def coverage(replications: int = 200, n: int = 2_000, exploration: float = 0.2, seed: int = 7,
             per_customer: int = 1, customer_sd: float = 0.0) -> Coverage:  # fmt: skip
    """Coverage of the incremental-value intervals of IPS, SNIPS and DR over ``replications`` fresh logs."""
    truth = true_values(exploration)
    rng = np.random.default_rng(seed)
    hits = {m: dict.fromkeys(TARGETS, 0) for m in ope.METHODS}
    sums = {m: dict.fromkeys(TARGETS, 0.0) for m in ope.METHODS}
    for _ in range(replications):
        data, pol = simulate(rng, n, exploration, per_customer=per_customer, customer_sd=customer_sd)
        q = ope.cross_fit_rewards(data)
        for name in TARGETS:
            result = ope.evaluate(data, pol[name], q)
            for m, est in result.incremental.items():
                hits[m][name] += int(est.ci_low <= truth[name] <= est.ci_high)
                sums[m][name] += est.value
    return Coverage(
        replications,
        {m: {t: h / replications for t, h in v.items()} for m, v in hits.items()},
        {m: {t: s / replications for t, s in v.items()} for m, v in sums.items()},
        truth,
    )


def true_margin(context: Mapping[str, float], action: str) -> float:
    """μ(x, action) of the module docstring, from a logged context ``{"x0", "x1"}``: the simulation's ground truth."""
    x0, x1 = float(context["x0"]), float(context["x1"])
    tau = {"none": 0.0, "a1": 3 + 2 * x1, "a2": 2 - 2 * x1, "a3": -1.5}[action]
    return 10 + 2 * x0 + tau - float(COST[ACTIONS.index(action)])


class SimulatedTruth:
    """The :class:`~cvm.experiments.ope.TruthProvider` of :func:`simulated_log`'s decisions."""

    def true_value(self, record: DecisionRecord, action: str) -> float:
        return true_margin(record.context, action)


def simulated_log(
    rng: np.random.Generator, n: int, exploration: float = 0.2, sigma: float = 4.0
) -> tuple[list[DecisionRecord], list[DecisionOutcome]]:
    """One simulated log as the decision-log contract's records and outcomes (``source="simulated"``)."""
    data, _pol = simulate(rng, n, exploration, sigma)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    records, outcomes = [], []
    for i in range(n):
        cands = tuple(
            CandidateTerms(action=a, plan="sim", step=a, channel="email", objective="upsell", propensity=0.0,
                           value=0.0, margin=0.0, cost=float(COST[j]), ev_propensity=float(data.terms[i, j, 0]),
                           uplift=float(data.terms[i, j, 2]), ev_incremental=float(data.terms[i, j, 1]))
            for j, a in enumerate(ACTIONS) if j
        )  # fmt: skip
        chosen = ACTIONS[int(data.chosen[i])]
        records.append(DecisionRecord(
            decision_id=f"sim-{i}", customer_id=f"c{i}", decided_at=at, path="batch", arbitration="propensity",
            policy_version="sim", rung="exploit", chosen=chosen, probability=float(data.propensity[i]),
            candidates=cands, context={"x0": float(data.features[i, 0]), "x1": float(data.features[i, 1])},
            exploration=exploration,
        ))  # fmt: skip
        outcomes.append(DecisionOutcome(f"sim-{i}", f"c{i}", chosen, 90, float(data.reward[i]), source="simulated"))
    return records, outcomes
