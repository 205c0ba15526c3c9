"""Payments: invoices for purchases and monthly subscription fees, paid on time, late or never."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cvm.demo.arrays import DAYS_PER_MONTH, BoolArray, FloatArray, IntArray, Window, ragged_arange, sigmoid
from cvm.demo.latent import Population, per_kind
from cvm.demo.lifecycle import Lifecycle
from cvm.demo.params import DemoParams
from cvm.demo.subscriptions import SubscriptionRows
from cvm.demo.transactions import Transactions

DEFAULT_DPD = 60
_NEVER_PAID_SHARE = 0.8


@dataclass(frozen=True)
class Payments:
    """Invoices sorted by customer and due day; ``paid`` is NaN when unpaid at the window end.

    ``days_late`` is the true lateness (``inf`` when never paid), also for invoices still open.
    """

    customer: IntArray
    due: FloatArray
    paid: FloatArray
    amount: FloatArray
    days_late: FloatArray

    @property
    def unpaid(self) -> BoolArray:
        """Invoices without a payment by the window end."""
        return np.isnan(self.paid)


def simulate_payments(
    pop: Population,
    life: Lifecycle,
    tx: Transactions,
    subs: SubscriptionRows,
    params: DemoParams,
    window: Window,
    rng: np.random.Generator,
) -> Payments:
    """Invoice purchases and subscriptions, then draw when (if ever) each invoice is paid."""
    c_s, t_s, a_s = _subscription_invoices(subs, window)
    buy = tx.purchase
    customer = np.concatenate([tx.customer[buy], c_s])
    due = np.floor(np.concatenate([tx.t[buy], t_s])) + per_kind(params, pop.b2b[customer], "due_days")
    amount = np.concatenate([tx.amount[buy], a_s])
    keep = due <= window.last_day
    customer, due, amount = customer[keep], due[keep], amount[keep]
    days_late = _lateness(pop, life, customer, due, rng)
    paid = due + days_late
    paid = np.where(paid <= window.last_day, paid, np.nan)
    order = np.lexsort((due, customer))
    return Payments(
        customer=customer[order], due=due[order], paid=paid[order], amount=amount[order], days_late=days_late[order]
    )


def _subscription_invoices(subs: SubscriptionRows, window: Window) -> tuple[IntArray, FloatArray, FloatArray]:
    """Monthly invoices in advance from each subscription's start until it ends."""
    stop = np.minimum(subs.end, window.horizon)
    counts = np.ceil((stop - subs.start) / DAYS_PER_MONTH).clip(0).astype(np.int64)
    row = np.repeat(np.arange(subs.start.size, dtype=np.int64), counts)
    t = subs.start[row] + ragged_arange(counts) * DAYS_PER_MONTH
    return subs.customer[row], t, subs.mrr[row]


def _lateness(
    pop: Population, life: Lifecycle, customer: IntArray, due: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """Days between due and payment: early or late by credit quality, 60+ or never around default."""
    n = customer.size
    z = pop.credit[customer]
    late = rng.random(n) < sigmoid(-1.8 + 1.1 * z)
    late_days = np.minimum(1.0 + rng.gamma(1.5, 3.0 + 8.0 * sigmoid(z)), 55.0)
    days = np.where(late, late_days, -rng.integers(0, 11, n).astype(np.float64))
    default_at = life.default_at[customer]
    worse = (due >= default_at - 150) & (due < default_at - 30)
    days = np.where(worse, np.minimum(np.maximum(days, 0.0) + rng.uniform(5.0, 30.0, n), DEFAULT_DPD - 1), days)
    bad = due >= default_at - 30
    recovered = rng.uniform(DEFAULT_DPD, 180.0, n)
    days = np.where(bad, np.where(rng.random(n) < _NEVER_PAID_SHARE, np.inf, recovered), days)
    return np.asarray(np.round(days), dtype=np.float64)
