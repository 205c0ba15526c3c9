"""Contacts: service desk, complaints, sales visits, payment reminders and cancellation requests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cvm.demo.arrays import DAYS_PER_YEAR, BoolArray, FloatArray, IntArray, Window, poisson_times, sigmoid
from cvm.demo.latent import Population, per_kind
from cvm.demo.lifecycle import Lifecycle
from cvm.demo.params import DemoParams
from cvm.demo.payments import Payments

TOPICS = ("service", "billing", "complaint", "sales_visit", "cancellation_request", "payment_reminder")
CONTACT_CHANNELS = ("phone", "email", "chat", "visit")
DIRECTIONS = ("inbound", "outbound")
OUTCOMES = ("resolved", "open")
TEXTS: dict[str, tuple[str, ...]] = {
    "service": (
        "How do I reset my password?",
        "Question about my order",
        "Delivery status please",
        "Need help with the installation",
        "Can you change my address?",
    ),
    "billing": (
        "Question about my invoice",
        "Please send a copy of the invoice",
        "Why was I charged twice?",
        "Can I pay in instalments?",
    ),
    "complaint": (
        "The product arrived damaged",
        "Nobody called me back",
        "Quality is not what was promised",
        "Waited too long on the phone",
        "Wrong items delivered again",
    ),
    "sales_visit": (
        "Quarterly account review",
        "Presented the premium plan",
        "Discussed next year's needs",
        "Demo of new features",
    ),
    "cancellation_request": (
        "I want to cancel my subscription",
        "Please end my contract",
        "Found a cheaper alternative, cancelling",
        "We no longer need the service",
        "Please close my customer account",
    ),
    "payment_reminder": (
        "Reminder: your invoice is overdue",
        "Second reminder: payment outstanding",
        "Final notice before collection",
    ),
}
_TOPIC = {name: i for i, name in enumerate(TOPICS)}
_INBOUND_CHANNEL_P = np.array([0.4, 0.35, 0.2, 0.05])


@dataclass(frozen=True)
class Contacts:
    """Contact rows (codes index the tuples above), sorted by customer and time."""

    customer: IntArray
    t: FloatArray
    topic: IntArray
    channel: IntArray
    outbound: BoolArray
    resolved: BoolArray

    @staticmethod
    def concat(parts: list[Contacts]) -> Contacts:
        """Stack parts and sort by customer and time."""
        customer = np.concatenate([p.customer for p in parts])
        t = np.concatenate([p.t for p in parts])
        order = np.lexsort((t, customer))
        return Contacts(
            customer=customer[order],
            t=t[order],
            topic=np.concatenate([p.topic for p in parts])[order],
            channel=np.concatenate([p.channel for p in parts])[order],
            outbound=np.concatenate([p.outbound for p in parts])[order],
            resolved=np.concatenate([p.resolved for p in parts])[order],
        )

    def where(self, keep: BoolArray) -> Contacts:
        """Rows where ``keep`` is true."""
        return Contacts(
            self.customer[keep],
            self.t[keep],
            self.topic[keep],
            self.channel[keep],
            self.outbound[keep],
            self.resolved[keep],
        )


def simulate_contacts(
    pop: Population,
    life: Lifecycle,
    silent: BoolArray,
    subscribed_at_churn: BoolArray,
    pay: Payments,
    params: DemoParams,
    window: Window,
    rng: np.random.Generator,
) -> Contacts:
    """All contacts; silent churners have none in the silent window and never complain or cancel."""
    parts = [
        _service(pop, life, params, rng),
        _sales_visits(pop, life, params, rng),
        _pre_churn(pop, life, ~silent & life.churned, subscribed_at_churn, rng),
        _reminders(pay, window, rng),
    ]
    contacts = Contacts.concat(parts)
    c = contacts.customer
    lead = np.floor(life.churn_at[c]) - np.floor(contacts.t)  # whole days, as the dates will show it
    near = (lead >= 0) & (lead <= params.silent_window_days)
    loud = np.isin(contacts.topic, [_TOPIC["complaint"], _TOPIC["cancellation_request"]])
    return contacts.where(~(silent[c] & (near | loud)))


def _part(
    customer: IntArray,
    t: FloatArray,
    topic: IntArray | int,
    channel: IntArray | int,
    outbound: BoolArray | bool,
    resolved: BoolArray,
) -> Contacts:
    """A block of contacts; scalar fields apply to every row."""
    n = customer.size
    return Contacts(
        customer=customer,
        t=t,
        topic=np.broadcast_to(np.asarray(topic, dtype=np.int64), (n,)).copy(),
        channel=np.broadcast_to(np.asarray(channel, dtype=np.int64), (n,)).copy(),
        outbound=np.broadcast_to(np.asarray(outbound, dtype=bool), (n,)).copy(),
        resolved=resolved,
    )


def _service(pop: Population, life: Lifecycle, params: DemoParams, rng: np.random.Generator) -> Contacts:
    """Inbound service, billing and complaint contacts; unhappy customers call more and complain."""
    rate = per_kind(params, pop.b2b, "contact_rate") / DAYS_PER_YEAR * np.exp(-0.4 * pop.satisfaction)
    customer, t = poisson_times(rng, rate, pop.acquired, life.stop)
    complaint = rng.random(customer.size) < sigmoid(-2.2 - 1.0 * pop.satisfaction[customer])
    topic = np.where(complaint, _TOPIC["complaint"], np.where(rng.random(customer.size) < 0.3, 1, 0))
    channel = rng.choice(len(CONTACT_CHANNELS), size=customer.size, p=_INBOUND_CHANNEL_P)
    resolved = rng.random(customer.size) < np.where(complaint, 0.7, 0.92)
    return _part(customer, t, topic, channel, False, resolved)


def _sales_visits(pop: Population, life: Lifecycle, params: DemoParams, rng: np.random.Generator) -> Contacts:
    """Outbound account-manager visits to business customers, more often for direct accounts."""
    per_year = np.where(pop.direct, params.sales_visit_rate_direct, params.sales_visit_rate_distribution)
    customer, t = poisson_times(rng, np.where(pop.b2b, per_year / DAYS_PER_YEAR, 0.0), pop.acquired, life.stop)
    resolved = rng.random(customer.size) < 0.8
    return _part(customer, t, _TOPIC["sales_visit"], CONTACT_CHANNELS.index("visit"), True, resolved)


def _pre_churn(
    pop: Population, life: Lifecycle, loud: BoolArray, subscribed_at_churn: BoolArray, rng: np.random.Generator
) -> Contacts:
    """The signal before a non-silent churn: a cancellation request, a complaint or a payment reminder."""
    customer = np.flatnonzero(loud)
    churn_at, acquired = life.churn_at[customer], pop.acquired[customer]
    inv = life.involuntary[customer]
    cancels = subscribed_at_churn[customer] | (rng.random(customer.size) < 0.6)
    topic = np.where(cancels, _TOPIC["cancellation_request"], _TOPIC["complaint"])
    topic = np.where(inv, _TOPIC["payment_reminder"], topic)
    t = np.maximum(churn_at - rng.uniform(2.0, 45.0, customer.size), acquired)
    channel = np.where(inv, CONTACT_CHANNELS.index("email"), rng.choice(3, size=customer.size))
    signal = _part(customer, t, topic, channel, inv, rng.random(customer.size) < 0.7)
    extra = customer[~inv & subscribed_at_churn[customer] & (rng.random(customer.size) < 0.4)]
    t_extra = np.maximum(life.churn_at[extra] - rng.uniform(20.0, 120.0, extra.size), pop.acquired[extra])
    channel = rng.choice(3, size=extra.size)
    complaint = _part(extra, t_extra, _TOPIC["complaint"], channel, False, rng.random(extra.size) < 0.5)
    return Contacts.concat([signal, complaint])


def _reminders(pay: Payments, window: Window, rng: np.random.Generator) -> Contacts:
    """An email reminder 14 days after the due date of every invoice not paid by then."""
    overdue = (pay.days_late >= 14) & (pay.due + 14 <= window.last_day)
    customer = pay.customer[overdue]
    t = pay.due[overdue] + 14 + rng.random(customer.size)
    email = CONTACT_CHANNELS.index("email")
    return _part(customer, t, _TOPIC["payment_reminder"], email, True, ~pay.unpaid[overdue])
