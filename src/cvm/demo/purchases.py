"""One-off purchases: BG/NBD for most customers, a fixed cadence for regular buyers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cvm.demo.arrays import FloatArray, IntArray, Window, group_rank, ragged_arange, sort_events
from cvm.demo.latent import Population


@dataclass(frozen=True)
class Purchases:
    """Purchases up to each customer's BG/NBD dropout, sorted by customer and time.

    ``dropout_at`` is the time of the purchase after which the customer dropped out (``inf`` when the
    customer was still alive at the end of the window). The first purchase is at acquisition.
    """

    customer: IntArray
    t: FloatArray
    dropout_at: FloatArray


def simulate_purchases(pop: Population, window: Window, rng: np.random.Generator) -> Purchases:
    """Simulate purchase times and dropouts for every customer."""
    span = window.horizon - pop.acquired
    c_poi, t_poi = _poisson_repeats(pop, span, rng)
    c_reg, t_reg = _regular_repeats(pop, span, rng)
    customer = np.concatenate([c_poi, c_reg])
    t = np.concatenate([t_poi, t_reg])
    order = sort_events(customer, t)
    customer, t = customer[order], t[order]
    # After each repeat purchase the customer drops out with probability p: the J-th one is the last.
    last = rng.geometric(pop.dropout)
    k = group_rank(customer) + 1
    keep = k <= last[customer]
    dropout_at = np.full(pop.n, np.inf)
    at_last = k == last[customer]
    dropout_at[customer[at_last]] = t[at_last]
    first = np.arange(pop.n, dtype=np.int64)
    customer = np.concatenate([first, customer[keep]])
    t = np.concatenate([pop.acquired, t[keep]])
    order = sort_events(customer, t)
    return Purchases(customer=customer[order], t=t[order], dropout_at=dropout_at)


def _poisson_repeats(pop: Population, span: FloatArray, rng: np.random.Generator) -> tuple[IntArray, FloatArray]:
    """Repeat purchases of Poisson buyers over their whole window, ignoring dropout."""
    rate = np.where(pop.regular, 0.0, pop.purchase_rate)
    counts = rng.poisson(rate * span)
    customer = np.repeat(np.arange(pop.n, dtype=np.int64), counts)
    t = pop.acquired[customer] + rng.random(customer.size) * span[customer]
    return customer, t


def _regular_repeats(pop: Population, span: FloatArray, rng: np.random.Generator) -> tuple[IntArray, FloatArray]:
    """Repeat purchases of regular buyers: every ``cadence`` days with a jitter of at most 30%."""
    cadence = np.where(pop.regular, pop.cadence, 1.0)
    counts = np.where(pop.regular, np.floor((span - 0.3 * cadence) / cadence), 0).clip(0).astype(np.int64)
    customer = np.repeat(np.arange(pop.n, dtype=np.int64), counts)
    step = ragged_arange(counts) + 1
    jitter = np.clip(rng.normal(0.0, 0.05, customer.size), -0.25, 0.25)
    t = pop.acquired[customer] + (step + jitter) * cadence[customer]
    return customer, t
