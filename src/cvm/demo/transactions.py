"""Transactions: purchase amounts (Gamma-Gamma), margins, products and refunds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cvm.demo.arrays import BoolArray, FloatArray, IntArray, Window, categorical, sort_events
from cvm.demo.latent import Population
from cvm.demo.lifecycle import Lifecycle
from cvm.demo.params import DemoParams
from cvm.demo.purchases import Purchases


@dataclass(frozen=True)
class Transactions:
    """Transactions sorted by customer and time; refunds have negative amounts."""

    customer: IntArray
    t: FloatArray
    amount: FloatArray
    margin: FloatArray
    product: IntArray

    @property
    def purchase(self) -> BoolArray:
        """Rows that are purchases (not refunds)."""
        return self.amount > 0


def simulate_transactions(
    pop: Population,
    buys: Purchases,
    life: Lifecycle,
    params: DemoParams,
    window: Window,
    rng: np.random.Generator,
) -> Transactions:
    """Price the purchases made before churn and add refunds of a small share of them."""
    keep = buys.t <= life.churn_at[buys.customer]
    customer, t = buys.customer[keep], buys.t[keep]
    amount = np.maximum(np.round(rng.gamma(pop.spend_p[customer], 1.0 / pop.spend_nu[customer]), 2), 1.0)
    lo, hi = params.margin_rate
    rate = np.clip(pop.margin_rate[customer] + rng.normal(0.0, 0.02, customer.size), lo, hi)
    margin = np.round(amount * rate, 2)
    mix = np.array([params.b2c.one_off_mix, params.b2b.one_off_mix])
    product = categorical(rng, mix[pop.b2b[customer].astype(np.int64)])
    refund = np.flatnonzero(rng.random(customer.size) < params.refund_share)
    t_refund = t[refund] + rng.uniform(1.0, 30.0, refund.size)
    refund = refund[t_refund < window.horizon]
    t_refund = t_refund[t_refund < window.horizon]
    share = np.where(rng.random(refund.size) < 0.6, 1.0, rng.uniform(0.1, 0.9, refund.size))
    customer = np.concatenate([customer, customer[refund]])
    t = np.concatenate([t, t_refund])
    order = sort_events(customer, t)
    return Transactions(
        customer=customer[order],
        t=t[order],
        amount=np.concatenate([amount, -np.round(amount[refund] * share, 2)])[order],
        margin=np.concatenate([margin, -np.round(margin[refund] * share, 2)])[order],
        product=np.concatenate([product, product[refund]])[order],
    )
