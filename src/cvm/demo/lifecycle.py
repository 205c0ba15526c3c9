"""Default and churn: when each customer stops, why, and whether anyone saw it coming."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cvm.demo.arrays import BoolArray, FloatArray, IntArray, Window, categorical
from cvm.demo.latent import Population
from cvm.demo.params import REASONS, DemoParams

_INVOLUNTARY_WEIGHTS = (0.85, 0.15)


@dataclass(frozen=True)
class Lifecycle:
    """Per customer: default time, churn time (``inf`` when none in the window) and churn reason.

    ``reason`` indexes :data:`cvm.demo.params.REASONS` (-1 when not churned).
    """

    default_at: FloatArray
    churn_at: FloatArray
    reason: IntArray
    horizon: float

    @property
    def churned(self) -> BoolArray:
        """Churned before the end of the window."""
        return self.churn_at < self.horizon

    @property
    def defaulted(self) -> BoolArray:
        """Went 60+ days past due (defaulted) within the window."""
        return self.default_at < self.horizon

    @property
    def involuntary(self) -> BoolArray:
        """Churned for a payment reason."""
        return self.reason >= REASONS.index("payment_failed")

    @property
    def stop(self) -> FloatArray:
        """End of the active relationship within the window."""
        return np.minimum(self.churn_at, self.horizon)


def simulate_lifecycle(
    pop: Population, dropout_at: FloatArray, params: DemoParams, window: Window, rng: np.random.Generator
) -> Lifecycle:
    """Combine BG/NBD dropout with defaults: a defaulter is cut off 60-120 days after default."""
    default_at = pop.acquired + rng.exponential(1.0, pop.n) / pop.default_hazard
    default_at = np.where(default_at < np.minimum(dropout_at, window.horizon), default_at, np.inf)
    lo, hi = params.default_lag_days
    cutoff = default_at + rng.uniform(lo, hi, pop.n)
    churn_at = np.minimum(dropout_at, cutoff)
    churn_at = np.where(churn_at < window.horizon, churn_at, np.inf)
    involuntary = np.isfinite(churn_at) & (cutoff <= dropout_at)
    reason = np.full(pop.n, -1, dtype=np.int64)
    vol = np.isfinite(churn_at) & ~involuntary
    reason[vol] = categorical(rng, _voluntary_weights(pop, vol))
    first_involuntary = REASONS.index("payment_failed")
    reason[involuntary] = first_involuntary + rng.choice(2, size=int(involuntary.sum()), p=_INVOLUNTARY_WEIGHTS)
    return Lifecycle(default_at=default_at, churn_at=churn_at, reason=reason, horizon=window.horizon)


def _voluntary_weights(pop: Population, rows: BoolArray) -> FloatArray:
    """Reason weights (columns in VOLUNTARY_REASONS order) tilted by the churner's traits."""
    sat = pop.satisfaction[rows]
    spend = np.log(pop.spend_scale[rows] / np.median(pop.spend_scale))
    slow = np.log(np.median(pop.purchase_rate) / pop.purchase_rate[rows])
    base = np.ones(sat.size)
    return np.column_stack(
        [
            1.5 * np.exp(0.5 * spend),  # too_expensive
            base,  # switched_service
            np.exp(-0.8 * sat),  # low_quality
            0.8 * np.exp(-0.8 * sat),  # customer_service
            0.6 * base,  # missing_features
            np.exp(0.5 * np.clip(slow, -3, 3)),  # unused
            0.4 * base,  # too_complex
            0.5 * base,  # other
        ]
    )


def draw_silent(
    life: Lifecycle, subscribed_at_churn: BoolArray, params: DemoParams, rng: np.random.Generator
) -> BoolArray:
    """Voluntary churners who leave without any contact beforehand (silent churn)."""
    share = np.where(subscribed_at_churn, params.silent_share_subscriber, params.silent_share_other)
    return life.churned & ~life.involuntary & (rng.random(share.size) < share)
