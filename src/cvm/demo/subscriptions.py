"""Subscriptions: a continuous-time Markov chain over (tier, support add-on) per customer.

From no tier a customer subscribes; from a tier it upgrades or downgrades (never back to none while
active); the add-on is switched on and off. Churn ends whatever is held, with the churn reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cvm.demo.arrays import DAYS_PER_YEAR, BoolArray, FloatArray, IntArray, categorical
from cvm.demo.latent import Population, per_kind
from cvm.demo.lifecycle import Lifecycle
from cvm.demo.params import REASONS, SUBSCRIPTION_PRODUCTS, DemoParams

ADDON_ON, ADDON_OFF = 3, 4  # transition codes; 0..2 move to tier 1..3
_MAX_STEPS = 10_000
# Upgrade / downgrade target weights by current tier (0 = none, 1..3 = basic, plus, premium).
_UP = np.array([[0, 0, 0, 0], [0, 0, 0.75, 0.25], [0, 0, 0, 1.0], [0, 0, 0, 0]])
_DOWN = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0.25, 0.75, 0]])


@dataclass(frozen=True)
class Rates:
    """Per-customer transition intensities per day."""

    subscribe: FloatArray
    tier_mix: FloatArray
    up: FloatArray
    down: FloatArray
    addon_on: FloatArray
    addon_off: FloatArray

    def matrix(self, rows: IntArray, tier: IntArray, addon: BoolArray) -> FloatArray:
        """Intensities (rows x 5) of moving to tier 1..3, add-on on, add-on off."""
        none = (tier == 0)[:, None]
        to_tier = np.where(none, self.subscribe[rows, None] * self.tier_mix[rows], 0.0)
        to_tier += self.up[rows, None] * _UP[tier][:, 1:] + self.down[rows, None] * _DOWN[tier][:, 1:]
        on = np.where((tier > 0) & ~addon, self.addon_on[rows], 0.0)
        off = np.where(addon, self.addon_off[rows], 0.0)
        return np.column_stack([to_tier, on, off])


@dataclass(frozen=True)
class Events:
    """Subscription state changes, sorted by customer then time; the final state per customer."""

    customer: IntArray
    t: FloatArray
    code: IntArray
    tier: IntArray
    addon: BoolArray


def subscription_rates(pop: Population, params: DemoParams) -> Rates:
    """Transition intensities driven by kind, channel, satisfaction and spend."""
    sat = pop.satisfaction
    spend = np.log(pop.spend_scale / np.median(pop.spend_scale))
    mix = np.where(pop.b2b[:, None], np.array(params.b2b.tier_mix), np.array(params.b2c.tier_mix))
    mix = mix * np.exp(np.outer(np.clip(spend, -2, 2), [-0.5, 0.0, 0.5]))
    mix /= mix.sum(axis=1, keepdims=True)
    year = 1.0 / DAYS_PER_YEAR
    return Rates(
        subscribe=per_kind(params, pop.b2b, "subscribe_rate") * year * np.exp(0.4 * sat) * (1 + 0.5 * pop.direct),
        tier_mix=mix,
        up=params.upgrade_rate * year * np.exp(0.4 * sat + 0.3 * np.clip(spend, -2, 2)) * (1 + 0.5 * pop.direct),
        down=params.downgrade_rate * year * np.exp(-0.5 * sat),
        addon_on=params.addon_rate * year * np.exp(0.3 * sat) * (1 + pop.b2b),
        addon_off=params.addon_cancel_rate * year * np.exp(-0.4 * sat),
    )


def simulate_events(
    pop: Population, life: Lifecycle, rates: Rates, params: DemoParams, rng: np.random.Generator
) -> Events:
    """Run the chain (Gillespie) for every customer from acquisition to churn or the window end."""
    initial = rng.random(pop.n) < per_kind(params, pop.b2b, "subscribed_at_acquisition")
    tier = np.where(initial, categorical(rng, rates.tier_mix) + 1, 0)
    addon = np.zeros(pop.n, dtype=bool)
    first = np.flatnonzero(initial)
    parts = [(first, pop.acquired[first], tier[first] - 1)]
    t, stop, active = pop.acquired.copy(), life.stop, np.arange(pop.n, dtype=np.int64)
    for _ in range(_MAX_STEPS):
        if active.size == 0:
            break
        m = rates.matrix(active, tier[active], addon[active])
        t_next = t[active] + rng.exponential(1.0, active.size) / m.sum(axis=1)
        go = t_next < stop[active]
        active, m = active[go], m[go]
        t[active] = t_next[go]
        code = categorical(rng, m)
        moved = code < ADDON_ON
        tier[active[moved]] = code[moved] + 1
        addon[active] ^= ~moved
        parts.append((active, t[active], code))
    customer = np.concatenate([p[0] for p in parts])
    order = np.argsort(customer, kind="stable")
    return Events(
        customer=customer[order],
        t=np.concatenate([p[1] for p in parts])[order],
        code=np.concatenate([p[2] for p in parts]).astype(np.int64)[order],
        tier=tier,
        addon=addon,
    )


def propensities(pop: Population, life: Lifecycle, rates: Rates, events: Events, days: int) -> dict[str, FloatArray]:
    """True probability of adopting each product within ``days`` after the window, given the state.

    The next transition out of the final state competes with churn (intensity ``churn_rate``):
    ``P = r_k / (R + mu) * (1 - exp(-days * (R + mu)))``; zero for churned customers and held products.
    """
    rows = np.arange(pop.n, dtype=np.int64)
    m = rates.matrix(rows, events.tier, events.addon)
    total = m.sum(axis=1) + pop.churn_rate
    reach = (1.0 - np.exp(-days * total)) / total
    alive = ~life.churned
    return {f"propensity_{name}": np.where(alive, m[:, k] * reach, 0.0) for k, name in enumerate(SUBSCRIPTION_PRODUCTS)}


@dataclass(frozen=True)
class SubscriptionRows:
    """One row per held product interval; ``end`` is ``inf`` and ``reason`` -1 where null."""

    customer: IntArray
    product: IntArray
    start: FloatArray
    end: FloatArray
    mrr: FloatArray
    reason: IntArray


_ADDON_DROP_REASONS = {"unused": 0.5, "too_expensive": 0.3, "missing_features": 0.1, "other": 0.1}


def subscription_rows(
    pop: Population, life: Lifecycle, events: Events, params: DemoParams, rng: np.random.Generator
) -> SubscriptionRows:
    """Turn the chain's events into product intervals with MRR and end reasons."""
    tier = events.code < ADDON_ON
    c_t, s_t = events.customer[tier], events.t[tier]
    e_t, r_t = _interval_ends(c_t, s_t, life)
    addon = ~tier
    c_a, s_a, code_a = events.customer[addon], events.t[addon], events.code[addon]
    e_a, r_a = _interval_ends(c_a, s_a, life)
    dropped = np.r_[code_a[1:] == ADDON_OFF, False] & np.r_[c_a[1:] == c_a[:-1], False]
    names = tuple(_ADDON_DROP_REASONS)
    drop_reason = np.array([REASONS.index(n) for n in names])[
        rng.choice(len(names), size=c_a.size, p=list(_ADDON_DROP_REASONS.values()))
    ]
    r_a = np.where(dropped, drop_reason, r_a)
    on = code_a == ADDON_ON
    customer = np.concatenate([c_t, c_a[on]])
    product = np.concatenate([events.code[tier], np.full(int(on.sum()), ADDON_ON)])
    start = np.concatenate([s_t, s_a[on]])
    order = np.lexsort((product, start, customer))
    customer, product = customer[order], product[order]
    return SubscriptionRows(
        customer=customer,
        product=product,
        start=start[order],
        end=np.concatenate([e_t, e_a[on]])[order],
        mrr=_mrr(pop, params, customer, product),
        reason=np.concatenate([r_t, r_a[on]])[order],
    )


def _interval_ends(customer: IntArray, t: FloatArray, life: Lifecycle) -> tuple[FloatArray, IntArray]:
    """End of each interval: the customer's next event, else churn; reason -1 unless churned."""
    same_next = np.r_[customer[1:] == customer[:-1], False]
    end = np.where(same_next, np.r_[t[1:], np.inf], life.churn_at[customer])
    reason = np.where(same_next, -1, life.reason[customer])
    return end, reason


def _mrr(pop: Population, params: DemoParams, customer: IntArray, product: IntArray) -> FloatArray:
    """List price per seat, times seats, less the customer's discount, in cents."""
    prices = np.array([params.b2c.prices, params.b2b.prices])
    price = prices[pop.b2b[customer].astype(np.int64), product]
    return np.round(price * pop.seats[customer] * (1.0 - pop.discount[customer]), 2)
