"""Outcomes of pilots with treatment effects known by construction, on the demo company's ground truth.

The demo generator (:mod:`cvm.demo`) writes each customer's hidden traits to
``ground_truth/customers_truth.parquet``: the monthly churn hazard h, the purchase rate λ (per
day) and the Gamma–Gamma spend (shape p, rate ν), the margin rate. This module simulates what a
plan does to them over an outcome window of W days:

- churn arrives at rate κ = −ln(1 − h) / 30.44 per day; the plan multiplies κ by (1 − cut) for
  *at-risk* customers only (h ≥ ``at_risk``), e.g. a retention call that cuts the hazard by 20%;
- retained = no churn within W; days alive = min(churn time, W);
- purchases ~ Poisson(λ · days alive), revenue = the sum of that many Gamma(p, ν) amounts,
  margin = revenue × margin rate; the pre-period (the W days before) is the same draw with
  W days alive, the covariate CUPED uses.

The true effects follow in closed form: P(retained) = e^{−κW}, E[days alive] = (1 − e^{−κW}) / κ
and E[revenue] = λ · p/ν · E[days alive], averaged over the population (:func:`true_effects`).
Experiments sample customers with replacement from the population, so the population averages
are exactly the estimands. Everything is vectorised over experiments × customers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

DAYS_PER_MONTH = 30.44
OUTCOMES = ("retention", "revenue", "margin")


@dataclass(frozen=True)
class Population:
    """The traits the simulation needs, one entry per customer."""

    customer_id: np.ndarray
    hazard: np.ndarray
    rate: np.ndarray
    spend_p: np.ndarray
    spend_nu: np.ndarray
    margin_rate: np.ndarray

    @classmethod
    def from_truth(cls, truth: pl.DataFrame | Path | str, alive_only: bool = False) -> Population:
        """Read ``customers_truth.parquet`` (or its frame); ``alive_only`` keeps customers alive at the end."""
        frame = truth if isinstance(truth, pl.DataFrame) else pl.read_parquet(truth)
        if alive_only:
            frame = frame.filter(pl.col("alive"))
        col = {c: frame[c].to_numpy().astype(float) for c in ("churn_hazard", "purchase_rate", "spend_p", "spend_nu")}
        return cls(frame["customer_id"].to_numpy().astype(str), col["churn_hazard"], col["purchase_rate"],
                   col["spend_p"], col["spend_nu"], frame["margin_rate"].to_numpy().astype(float))  # fmt: skip

    @property
    def n(self) -> int:
        return int(self.hazard.size)


@dataclass(frozen=True)
class Effect:
    """A plan's effect: the churn hazard of at-risk customers (h ≥ ``at_risk``) cut by ``hazard_cut``."""

    hazard_cut: float = 0.2
    at_risk: float = 0.05

    def kappa(self, hazard: np.ndarray, treated: np.ndarray | bool) -> np.ndarray:
        """Daily churn rate of each customer, under treatment where ``treated``."""
        base = -np.log1p(-np.clip(hazard, 0.0, 1 - 1e-12)) / DAYS_PER_MONTH
        responds = np.asarray(treated) & (hazard >= self.at_risk)
        out: np.ndarray = np.where(responds, base * (1.0 - self.hazard_cut), base)
        return out


@dataclass(frozen=True)
class TrueEffect:
    """Population means of each outcome without and with the plan, their difference and lift."""

    control: dict[str, float]
    treated: dict[str, float]

    def diff(self, outcome: str) -> float:
        return self.treated[outcome] - self.control[outcome]

    def lift(self, outcome: str) -> float:
        return self.diff(outcome) / abs(self.control[outcome])


def _alive_days(kappa: np.ndarray, window: float) -> np.ndarray:
    safe = np.where(kappa > 0, kappa, 1.0)
    return np.where(kappa > 0, -np.expm1(-kappa * window) / safe, window)


def true_effects(pop: Population, effect: Effect, window_days: float = 90.0) -> TrueEffect:
    """The exact population means of retention, revenue and margin, untreated and treated."""
    out = []
    for treated in (False, True):
        kappa = effect.kappa(pop.hazard, treated)
        revenue = pop.rate * pop.spend_p / pop.spend_nu * _alive_days(kappa, window_days)
        out.append({
            "retention": float(np.exp(-kappa * window_days).mean()),
            "revenue": float(revenue.mean()),
            "margin": float((revenue * pop.margin_rate).mean()),
        })  # fmt: skip
    return TrueEffect(out[0], out[1])


def _spend(rng: np.random.Generator, purchases: np.ndarray, p: np.ndarray, nu: np.ndarray) -> np.ndarray:
    shape = purchases * p
    return np.where(purchases > 0, rng.gamma(np.where(shape > 0, shape, 1.0), 1.0 / nu), 0.0)


def draw(
    pop: Population, index: np.ndarray, treated: np.ndarray, effect: Effect, window_days: float,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Outcomes of the customers ``index`` (any shape), treated where ``treated``: one draw each.

    Returns ``retention`` (0/1), ``revenue``, ``margin`` and the pre-period ``pre_revenue``.
    """
    h, rate = pop.hazard[index], pop.rate[index]
    p, nu = pop.spend_p[index], pop.spend_nu[index]
    kappa = effect.kappa(h, treated)
    churn_at = rng.exponential(1.0 / np.where(kappa > 0, kappa, 1e-300))
    alive = np.minimum(churn_at, window_days)
    revenue = _spend(rng, rng.poisson(rate * alive), p, nu)
    pre = _spend(rng, rng.poisson(rate * window_days), p, nu)
    return {
        "retention": (churn_at > window_days).astype(float),
        "revenue": revenue,
        "margin": revenue * pop.margin_rate[index],
        "pre_revenue": pre,
    }


@dataclass
class SimulatedBatch:
    """Many simulated experiments: outcomes [experiments × customers] and the arm of each cell."""

    outcomes: dict[str, np.ndarray]
    treated: np.ndarray
    truth: TrueEffect
    window_days: float
    seconds: dict[str, float] = field(default_factory=dict)

    def moments(self, outcome: str) -> tuple[np.ndarray, ...]:
        """Per experiment: control mean, variance, size, then treated mean, variance, size."""
        y, t = self.outcomes[outcome], self.treated
        return _arm_moments(y, ~t) + _arm_moments(y, t)


def _arm_moments(y: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = mask.sum(axis=1).astype(float)
    s = np.where(mask, y, 0.0).sum(axis=1)
    mean = s / n
    ss = np.where(mask, (y - mean[:, None]) ** 2, 0.0).sum(axis=1)
    return mean, ss / (n - 1), n


def simulate_experiments(
    pop: Population,
    experiments: int = 1_000,
    customers: int = 2_000,
    effect: Effect | None = None,
    window_days: float = 90.0,
    share: float = 0.5,
    seed: int = 0,
) -> SimulatedBatch:
    """``experiments`` pilots of ``customers`` each, drawn with replacement from ``pop``.

    Each customer is treated with probability ``share`` (complete randomisation per cell).

    Examples
    --------
    >>> import numpy as np
    >>> pop = Population(np.array(["a", "b"]), np.array([0.1, 0.01]), np.array([0.02, 0.01]),
    ...                  np.array([2.0, 2.0]), np.array([0.02, 0.02]), np.array([0.3, 0.3]))
    >>> sim = simulate_experiments(pop, experiments=3, customers=50)
    >>> sim.outcomes["retention"].shape
    (3, 50)
    """
    effect = effect or Effect()
    rng = np.random.default_rng(seed)
    index = rng.integers(0, pop.n, size=(experiments, customers))
    treated = rng.random((experiments, customers)) < share
    outcomes = draw(pop, index, treated, effect, window_days, rng)
    return SimulatedBatch(outcomes, treated, true_effects(pop, effect, window_days), window_days)


def save_probability(hazard: np.ndarray, effect: Effect, days: np.ndarray | float) -> np.ndarray:
    """P(a customer who churned within ``days`` would not have, had they been treated).

    With survival S = e^{−κd} untreated and S' = S^{1−cut} treated (at-risk only), a churner is
    saved with probability (S' − S) / (1 − S); 0 for customers who do not respond.
    """
    s = np.exp(-effect.kappa(hazard, False) * days)
    s_t = np.exp(-effect.kappa(hazard, True) * days)
    out: np.ndarray = np.divide(s_t - s, 1.0 - s, out=np.zeros_like(s), where=(1.0 - s) > 1e-12)
    return out
