"""Off-policy evaluation: what a target policy would have earned, estimated from the logged decisions.

The log holds, per decision i, the candidates and context x_i, the chosen action a_i, the probability
p_i with which the logging policy chose it (exploration included) and the margin r_i that followed over
the horizon (:class:`~cvm.contracts.decisionlog.DecisionOutcome`). A target policy π gives π(a | x_i)
(:mod:`cvm.experiments.policies`); w_i = π(a_i | x_i) / p_i is the importance weight.

Three estimators of V(π) = E[Σ_a π(a | x) · E[r | x, a]], each the mean of per-decision contributions:

- **IPS** (inverse propensity scoring, Horvitz & Thompson 1952): c_i = w_i · r_i. Unbiased when every
  p_i is the true selection probability and p > 0 wherever π > 0 (exploration guarantees it);
  its variance grows with the weights.
- **SNIPS** (self-normalised IPS, Swaminathan & Joachims 2015): Σ w_i r_i / Σ w_i. Slightly biased
  (consistent), much steadier when weights are large; its interval is the delta method's, on
  c_i = V + w_i (r_i − V) / w̄.
- **DR** (doubly robust, Dudík, Langford & Li 2011): c_i = Σ_a π(a | x_i) q̂(x_i, a) + w_i (r_i − q̂(x_i, a_i)),
  with q̂ a direct-method reward model: per action, a ridge regression of r on the context and that
  candidate's worth terms. q̂ is **cross-fitted** (Chernozhukov et al. 2018): each fold is predicted by a
  model fitted on the other folds, so q̂(x_i, ·) does not depend on r_i and DR stays unbiased whatever q̂'s
  quality (given true p_i); a good q̂ only narrows the interval.

**Intervals**: 95% on the per-decision contributions, mean ± t · se, the standard error clustered by customer
(:func:`clustered_ci`: customers are taken as independent, a customer's decisions over several cycles need not
be), and t the Student quantile with the Satterthwaite degrees of freedom of that variance (the effective number
of customers carrying it, less one): 1.96 when many customers contribute alike, wider when a few dominate, as
they do when a handful of large accounts' outcomes decide a difference. **Incremental value**
= V(π) − V(no action), its interval from the paired per-decision differences of contributions; two
policies are compared the same way (:func:`difference`).
Values are reported per 1,000 eligible decisions (one decision per eligible customer and cycle); see
docs/policy-evaluation.md for how to read them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.special import stdtrit  # type: ignore[import-untyped]

from cvm.contracts.decisionlog import NO_ACTION, DecisionOutcome, DecisionRecord
from cvm.errors import BadValueError
from cvm.experiments.policies import eligible

METHODS = ("ips", "snips", "dr")
Z95 = 1.959963984540054
TERMS = ("ev_propensity", "ev_incremental", "uplift", "propensity", "cost")


class TruthProvider(Protocol):
    """Ground truth (the demo's): the true expected margin over the horizon of ``action`` for this decision.

    ``true_value(record, "none")`` is the no-action baseline; only differences between actions are used.
    """

    def true_value(self, record: DecisionRecord, action: str) -> float: ...


@dataclass(frozen=True)
class LoggedBandit:
    """The log as arrays: n decisions, A actions (``actions[0]`` is ``"none"``), F context features.

    ``available[i, a]``: action a could be chosen in decision i (no action always can); ``terms[i, a]``:
    the worth terms of :data:`TERMS` of that candidate (0 where absent). ``cluster[i]`` numbers the
    customer of decision i (``None``: every decision its own customer).
    """

    actions: tuple[str, ...]
    chosen: np.ndarray
    propensity: np.ndarray
    reward: np.ndarray
    available: np.ndarray
    features: np.ndarray
    terms: np.ndarray
    cluster: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.chosen.size)

    @property
    def groups(self) -> np.ndarray:
        """The customer number of each decision (0..G−1)."""
        return np.arange(self.n) if self.cluster is None else np.unique(self.cluster, return_inverse=True)[1]


@dataclass(frozen=True)
class Estimate:
    """An estimate with its standard error and 95% interval."""

    value: float
    se: float
    ci_low: float
    ci_high: float

    def scaled(self, factor: float) -> Estimate:
        return Estimate(self.value * factor, self.se * factor, self.ci_low * factor, self.ci_high * factor)

    def to_dict(self) -> dict[str, float | None]:
        return {k: (v if math.isfinite(v) else None) for k, v in
                (("value", self.value), ("ci_low", self.ci_low), ("ci_high", self.ci_high))}  # fmt: skip


def clustered_ci(contributions: np.ndarray, groups: np.ndarray | None = None) -> Estimate:
    """Mean ± t · se of per-decision contributions, se clustered by customer, t for the customers that carry it.

    se = √(G/(G−1) · Σ_g S_g²) / n, with S_g the sum of the centred contributions of customer g (the
    cluster-robust standard error: a customer's decisions over several cycles are not independent). With
    one decision per customer it is the usual sd (ddof 1) / √n. t is the 97.5% Student quantile with
    :func:`effective_df` degrees of freedom (Satterthwaite 1946; the small-sample advice of Bell & McCaffrey
    2002 and Imbens & Kolesár 2016, "Robust standard errors in small samples"), so an interval resting on a few
    customers' outcomes is as wide as so few deserve, where the normal 1.96 would claim a verdict.
    """
    n = contributions.size
    if n < 2:
        raise ValueError("at least two decisions are needed for an interval")
    mean = float(contributions.mean())
    g = np.arange(n) if groups is None else groups
    sums = np.bincount(g, weights=contributions - mean)
    k = int(np.count_nonzero(np.bincount(g)))
    se = math.sqrt(k / (k - 1) * float((sums * sums).sum())) / n if k > 1 else math.inf
    half = float(stdtrit(effective_df(sums), 0.975)) * se if math.isfinite(se) else math.inf
    return Estimate(mean, se, mean - half, mean + half)


def effective_df(sums: np.ndarray) -> float:
    """Satterthwaite's degrees of freedom of the clustered variance Σ_g S_g²: (Σ S_g²)² / Σ S_g⁴ − 1, at least 1.

    (Σ S_g²)² / Σ S_g⁴ is the number of customers carrying the variance (Kish's effective number on the squared
    sums): G when all weigh alike, about 1 when one customer's outcome is most of it.

    >>> effective_df(np.array([1.0, -1.0, 1.0, -1.0])), effective_df(np.array([10.0, -0.1, -0.1, 0.1]))
    (3.0, 1.0)
    """
    squares = np.asarray(sums, dtype=float) ** 2
    total, fourth = float(squares.sum()), float((squares * squares).sum())
    return max(total * total / fourth - 1.0, 1.0) if fourth > 0 else 1.0


def bootstrap_ci(
    contributions: np.ndarray, groups: np.ndarray | None = None, replications: int = 1000, seed: int = 0
) -> Estimate:
    """The percentile 95% interval of the mean contribution over ``replications`` customer-bootstrap resamples.

    Whole customers are drawn with replacement (Efron & Tibshirani 1993, resampling clusters); the reward
    model stays as fitted. ``se`` is the standard deviation of the resampled means.
    """
    n = contributions.size
    if n < 2 or replications < 10:
        raise ValueError("the bootstrap needs at least two decisions and ten replications")
    g = np.arange(n) if groups is None else groups
    sums, counts = np.bincount(g, weights=contributions), np.bincount(g).astype(float)
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, replications, 100):
        pick = rng.integers(0, sums.size, size=(min(100, replications - start), sums.size))
        means.append(sums[pick].sum(axis=1) / counts[pick].sum(axis=1))
    draws = np.concatenate(means)
    low, high = np.quantile(draws, [0.025, 0.975])
    return Estimate(float(contributions.mean()), float(draws.std(ddof=1)), float(low), float(high))


def bandit_from_log(
    records: Sequence[DecisionRecord], outcomes: Mapping[str, DecisionOutcome]
) -> tuple[LoggedBandit, list[DecisionRecord]]:
    """The evaluable decisions as arrays, and their records in the same order.

    Kept: decisions with an outcome, outside the global holdout (whose choice was never random), with at
    least one eligible candidate (the "eligible customers"). A logged probability outside (0, 1] is an error.
    """
    kept = [r for r in records
            if r.decision_id in outcomes and r.rung != "global_holdout" and eligible(r)]  # fmt: skip
    actions: dict[str, int] = {NO_ACTION: 0}
    features: dict[str, int] = {}
    for r in kept:
        if not 0.0 < r.probability <= 1.0:
            raise BadValueError(
                f"decision_log: decision {r.decision_id}: field 'probability' {r.probability} is not in (0, 1]"
            )
        for a in (r.chosen, *(c.action for c in eligible(r))):
            actions.setdefault(a, len(actions))
        for k in r.context:
            features.setdefault(k, len(features))
    n, na = len(kept), len(actions)
    available = np.zeros((n, na), dtype=bool)
    available[:, 0] = True
    terms = np.zeros((n, na, len(TERMS)))
    feats = np.zeros((n, len(features)))
    for i, r in enumerate(kept):
        available[i, actions[r.chosen]] = True
        for c in eligible(r):
            j = actions[c.action]
            available[i, j] = True
            terms[i, j] = [c.ev_propensity, c.ev_incremental if c.ev_incremental is not None else c.ev_propensity,
                           c.uplift or 0.0, c.propensity, c.cost]  # fmt: skip
        for k, v in r.context.items():
            feats[i, features[k]] = _number(v)
    bandit = LoggedBandit(
        actions=tuple(actions),
        chosen=np.array([actions[r.chosen] for r in kept], dtype=int),
        propensity=np.array([r.probability for r in kept], dtype=float),
        reward=np.array([outcomes[r.decision_id].margin for r in kept], dtype=float),
        available=available,
        features=feats,
        terms=terms,
        cluster=np.array([r.customer_id for r in kept], dtype=object),
    )
    return bandit, kept


def _number(value: Any) -> float:
    """A context value as a feature: a finite number, else 0 (missing, NaN or not numeric)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def target_matrix(
    policy: Callable[[DecisionRecord], Mapping[str, float]], records: Sequence[DecisionRecord], actions: Sequence[str]
) -> np.ndarray:
    """π(a | x_i) as an (n, A) matrix in the order of ``actions``."""
    index = {a: j for j, a in enumerate(actions)}
    out = np.zeros((len(records), len(actions)))
    for i, r in enumerate(records):
        for a, p in policy(r).items():
            if a not in index:
                raise ValueError(f"decision {r.decision_id}: the policy chose {a!r}, which the log never offered")
            out[i, index[a]] += p
    return out


# -- the direct-method reward model ------------------------------------------------------------------
def _design(data: LoggedBandit, action: int, rows: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    x = (data.features[rows] - mu) / sd
    return np.column_stack([np.ones(rows.size), x, data.terms[rows, action, :]])


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    penalty = alpha * np.eye(x.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    beta: np.ndarray = np.linalg.lstsq(x.T @ x + penalty, x.T @ y, rcond=None)[0]
    return beta


def cross_fit_rewards(data: LoggedBandit, folds: int = 5, seed: int = 0, alpha: float = 1.0) -> np.ndarray:
    """q̂(x_i, a) for every decision and action, each fold predicted by models fitted on the other folds.

    Folds are drawn by customer, so that no customer's own decisions enter the model that predicts them.

    Per action, a ridge regression of the margin on the standardised context and the candidate's terms,
    fitted on the decisions that chose it; with fewer than 2 × (columns) such decisions, their mean margin
    (or, with none, the mean margin of all training decisions).
    """
    n, na = data.n, len(data.actions)
    groups = data.groups
    n_groups = int(groups.max()) + 1 if n else 0
    fold = (np.random.default_rng(seed).permutation(n_groups) % max(2, min(folds, n_groups)))[groups]
    q = np.zeros((n, na))
    for k in np.unique(fold):
        test, train = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        mu = data.features[train].mean(axis=0) if train.size else np.zeros(data.features.shape[1])
        sd = data.features[train].std(axis=0) if train.size else np.ones(data.features.shape[1])
        sd = np.where(sd > 0, sd, 1.0)
        fallback = float(data.reward[train].mean()) if train.size else 0.0
        for a in range(na):
            rows = train[data.chosen[train] == a]
            x_test = _design(data, a, test, mu, sd)
            if rows.size >= 2 * x_test.shape[1]:
                q[test, a] = x_test @ _ridge(_design(data, a, rows, mu, sd), data.reward[rows], alpha)
            else:
                q[test, a] = data.reward[rows].mean() if rows.size else fallback
    return q


# -- the estimators --------------------------------------------------------------------------------
def contributions(data: LoggedBandit, target: np.ndarray, method: str, q: np.ndarray | None = None) -> np.ndarray:
    """Per-decision contributions of ``method`` (``ips``, ``snips`` or ``dr``): their mean is the estimate."""
    idx = np.arange(data.n)
    w = target[idx, data.chosen] / data.propensity
    if method == "ips":
        out: np.ndarray = w * data.reward
        return out
    if method == "snips":
        mean_w = float(w.mean())
        if mean_w == 0:
            return np.zeros(data.n)  # never agrees with the log: no information
        value = float((w * data.reward).sum() / w.sum())
        snips: np.ndarray = value + w * (data.reward - value) / mean_w
        return snips
    if method == "dr":
        if q is None:
            raise ValueError("the doubly robust estimator needs the reward model's predictions q")
        return np.asarray((target * q).sum(axis=1) + w * (data.reward - q[idx, data.chosen]))
    raise ValueError(f"unknown estimator {method!r}: use one of {', '.join(METHODS)}")


def effective_sample_size(data: LoggedBandit, target: np.ndarray) -> float:
    """Kish's (Σw)² / Σw²: how many decisions the weighted log is worth for this policy."""
    w = target[np.arange(data.n), data.chosen] / data.propensity
    total = float((w * w).sum())
    return float(w.sum() ** 2 / total) if total > 0 else 0.0


@dataclass(frozen=True)
class PolicyValue:
    """One policy's value per decision, per estimator: absolute and incremental (versus no action)."""

    value: Mapping[str, Estimate]
    incremental: Mapping[str, Estimate]
    contacts: float
    decisions: int
    effective_sample_size: float
    bootstrap: Mapping[str, Estimate] = field(default_factory=dict)
    """Customer-bootstrap intervals of the incremental estimates, when asked for."""


def none_matrix(data: LoggedBandit) -> np.ndarray:
    """The ``none`` policy: probability 1 on no action."""
    out = np.zeros((data.n, len(data.actions)))
    out[:, 0] = 1.0
    return out


def evaluate(data: LoggedBandit, target: np.ndarray, q: np.ndarray | None = None, bootstrap: int = 0) -> PolicyValue:
    """IPS, SNIPS and DR values of ``target`` (an (n, A) matrix), absolute and versus no action.

    ``q`` defaults to :func:`cross_fit_rewards` (pass it to share one fit between policies). ``bootstrap``
    > 0 adds the customer-bootstrap interval (:func:`bootstrap_ci`) of each incremental estimate.
    """
    if data.n < 2:
        raise ValueError("at least two evaluable decisions are needed")
    if np.any(target[~data.available] > 0):
        raise ValueError("the target policy chooses an action that was not available")
    q = cross_fit_rewards(data) if q is None else q
    base = none_matrix(data)
    groups = data.groups
    value, incremental, boot = {}, {}, {}
    for m in METHODS:
        c = contributions(data, target, m, q)
        value[m] = clustered_ci(c, groups)
        diff = c - contributions(data, base, m, q)
        incremental[m] = clustered_ci(diff, groups)
        if bootstrap:
            boot[m] = bootstrap_ci(diff, groups, bootstrap)
    contacts = float(target[:, 1:].sum(axis=1).mean())
    return PolicyValue(value, incremental, contacts, data.n, effective_sample_size(data, target), boot)


def difference(data: LoggedBandit, target: np.ndarray, baseline: np.ndarray, q: np.ndarray) -> dict[str, Estimate]:
    """V(target) − V(baseline) per estimator, from the paired per-decision differences of contributions.

    Both policies are scored on the same decisions, so whatever the two share (every decision where they
    choose alike contributes exactly 0, and the customers' common noise cancels) leaves the interval: it is
    much narrower than the gap between two separate intervals suggests. A decision both policies treat alike
    under SNIPS still differs by its normalisation, so SNIPS differences are linearised as in :func:`contributions`.
    """
    if np.any(target[~data.available] > 0) or np.any(baseline[~data.available] > 0):
        raise ValueError("a policy chooses an action that was not available")
    groups = data.groups
    return {m: clustered_ci(contributions(data, target, m, q) - contributions(data, baseline, m, q), groups)
            for m in METHODS}  # fmt: skip


def decisions_needed(estimate: Estimate, decisions: int) -> int | None:
    """About how many decisions would give an interval that excludes 0, if the difference stayed at its estimate.

    The standard error shrinks as 1/√n: n × (1.96 · se / |value|)² (a larger log has many customers, so the normal
    quantile). ``None`` when the estimate is 0 or
    its interval already excludes 0.
    """
    if estimate.value == 0 or not math.isfinite(estimate.se) or estimate.ci_low > 0 or estimate.ci_high < 0:
        return None
    return math.ceil(decisions * (Z95 * estimate.se / abs(estimate.value)) ** 2)


def true_gains(truth: TruthProvider, records: Sequence[DecisionRecord], data: LoggedBandit) -> np.ndarray:
    """The true incremental margin of each available action of each decision, an (n, A) matrix (0 elsewhere).

    A provider with a ``prime(records)`` method (vectorised precomputation) is primed first.
    """
    prime = getattr(truth, "prime", None)
    if callable(prime):
        prime(records)
    gain = np.zeros((len(records), len(data.actions)))
    for i, r in enumerate(records):
        base = truth.true_value(r, NO_ACTION)
        for j in np.flatnonzero(data.available[i, 1:]) + 1:
            gain[i, j] = truth.true_value(r, data.actions[j]) - base
    return gain


def true_incremental(gain: np.ndarray, target: np.ndarray) -> float:
    """A policy's true mean incremental margin per decision, from :func:`true_gains`."""
    return float((gain * target).sum(axis=1).mean()) if gain.size else math.nan


def to_dict(result: PolicyValue, per: float = 1000.0) -> dict[str, Any]:
    """Plain values, per ``per`` eligible decisions."""
    out: dict[str, Any] = {
        "decisions": result.decisions,
        "effective_sample_size": round(result.effective_sample_size, 1),
        "contacts": result.contacts * per,
        "incremental": {m: e.scaled(per).to_dict() for m, e in result.incremental.items()},
        "value": {m: e.scaled(per).to_dict() for m, e in result.value.items()},
    }
    if result.bootstrap:
        out["bootstrap"] = {m: e.scaled(per).to_dict() for m, e in result.bootstrap.items()}
    return out
