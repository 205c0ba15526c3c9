"""Survey answers: NPS driven by satisfaction, lower in the months before churn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cvm.demo.arrays import DAYS_PER_YEAR, BoolArray, FloatArray, IntArray, Window, epoch_seconds, poisson_times
from cvm.demo.latent import Population
from cvm.demo.lifecycle import Lifecycle
from cvm.demo.params import DemoParams

COMMENTS: tuple[tuple[str, ...], ...] = (
    ("Very disappointed", "Too expensive for what you get", "Support never answers", "Thinking of leaving"),
    ("It is okay", "Delivery could be faster", "Decent, nothing special", "Prices went up"),
    ("Great service!", "Friendly and fast", "Very happy with the product", "Would not switch"),
)


@dataclass(frozen=True)
class Surveys:
    """Survey answers sorted by customer and time; ``comment`` is -1 where absent."""

    customer: IntArray
    t: FloatArray
    nps: IntArray
    would_recommend: BoolArray
    did_recommend: BoolArray
    did_known: BoolArray
    comment: IntArray


def simulate_surveys(
    pop: Population, life: Lifecycle, params: DemoParams, window: Window, rng: np.random.Generator
) -> Surveys:
    """Answers at a Poisson rate during each customer's active life, one per second at most."""
    rate = np.full(pop.n, params.survey_rate / DAYS_PER_YEAR)
    customer, t = poisson_times(rng, rate, pop.acquired, life.stop)
    order = np.lexsort((t, customer))
    customer, t = customer[order], t[order]
    second = epoch_seconds(window, t)
    distinct = np.r_[True, (customer[1:] != customer[:-1]) | (second[1:] != second[:-1])]
    customer, t = customer[distinct], t[distinct]
    n = customer.size
    before_churn = t >= life.churn_at[customer] - params.pre_churn_days
    mood = pop.satisfaction[customer] - params.pre_churn_nps_drop * before_churn + rng.normal(0.0, 0.8, n)
    nps = np.clip(np.round(7.8 + 1.8 * mood), 0, 10).astype(np.int64)
    would = rng.random(n) < np.select([nps >= 9, nps >= 7], [0.95, 0.6], 0.1)
    did = np.where(would, rng.random(n) < 0.45, rng.random(n) < 0.05)
    band = np.select([nps >= 9, nps >= 7], [2, 1], 0)
    pick = rng.integers(0, len(COMMENTS[0]), n)
    return Surveys(
        customer=customer,
        t=t,
        nps=nps,
        would_recommend=would,
        did_recommend=did,
        did_known=rng.random(n) < 0.8,
        comment=np.where(rng.random(n) < 0.35, band * len(COMMENTS[0]) + pick, -1),
    )
