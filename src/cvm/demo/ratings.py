"""External credit ratings: bureau scores that drift around each customer's credit quality."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cvm.demo.arrays import DAYS_PER_YEAR, FloatArray, IntArray, Window, ragged_arange, sigmoid
from cvm.demo.latent import Population, per_kind
from cvm.demo.lifecycle import Lifecycle
from cvm.demo.params import GRADES, DemoParams

_SOURCE_BIAS = np.array([0.0, -0.15])
_SOURCE_SHARE = np.array([0.8, 0.6])


@dataclass(frozen=True)
class Ratings:
    """Ratings sorted by customer, source and time; ``grade`` indexes :data:`GRADES`."""

    customer: IntArray
    t: FloatArray
    source: IntArray
    score: FloatArray
    grade: IntArray


def simulate_ratings(
    pop: Population, life: Lifecycle, params: DemoParams, window: Window, rng: np.random.Generator
) -> Ratings:
    """Ratings from onboarding on, every 120 (creditsafe) or 180 (graydon) days, while a customer."""
    rated = rng.random(pop.n) < per_kind(params, pop.b2b, "rated_share")
    has = rated[:, None] & (rng.random((pop.n, 2)) < _SOURCE_SHARE)
    has[:, 0] |= rated & ~has[:, 1]
    customer, source = (a.astype(np.int64) for a in np.nonzero(has))
    interval = np.array(params.rating_interval_days, dtype=np.float64)[source]
    first = pop.acquired[customer] + rng.uniform(0.0, 14.0, customer.size)
    stop = life.stop[customer]
    counts = np.where(first < stop, np.floor((stop - first) / interval) + 1, 0).astype(np.int64)
    row = np.repeat(np.arange(customer.size), counts)
    customer, source = customer[row], source[row]
    t = first[row] + ragged_arange(counts) * interval[row] + rng.uniform(-5.0, 5.0, row.size)
    t = np.clip(t, pop.acquired[customer], stop[row] - 1e-6)
    score = _score(pop, life, customer, source, t, window, rng)
    grade = np.minimum(np.floor(score / 10.0), len(GRADES) - 1).astype(np.int64)
    return Ratings(customer=customer, t=t, source=source, score=score, grade=grade)


def _score(
    pop: Population,
    life: Lifecycle,
    customer: IntArray,
    source: IntArray,
    t: FloatArray,
    window: Window,
    rng: np.random.Generator,
) -> FloatArray:
    """Score 0-100 (higher is safer) of a credit quality that drifts towards today's value."""
    years_before_end = (window.horizon - t) / DAYS_PER_YEAR
    drift = rng.normal(0.0, 0.3, pop.n)[customer] * years_before_end
    distress = 1.5 * (t >= life.default_at[customer] - 90)
    z = pop.credit[customer] + drift + distress + rng.normal(0.0, 0.25, customer.size)
    return np.round(100.0 * sigmoid(1.2 - 1.3 * z + _SOURCE_BIAS[source]), 1)
