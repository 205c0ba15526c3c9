"""Arrow columns of the child tables, built from the simulated arrays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cvm.demo.arrays import Window, date_array, id_width, ids, strings, timestamp_array
from cvm.demo.contacts import CONTACT_CHANNELS, DIRECTIONS, OUTCOMES, TEXTS, TOPICS, Contacts
from cvm.demo.params import GRADES, ONE_OFF_PRODUCTS, RATING_SOURCES, REASONS, SUBSCRIPTION_PRODUCTS
from cvm.demo.payments import Payments
from cvm.demo.ratings import Ratings
from cvm.demo.subscriptions import SubscriptionRows
from cvm.demo.surveys import COMMENTS, Surveys
from cvm.demo.transactions import Transactions

Columns = dict[str, pa.Array]


def subscriptions_columns(rows: SubscriptionRows, customer_id: pa.Array, window: Window) -> Columns:
    """Columns of the subscriptions table."""
    n = rows.customer.size
    ended = np.isfinite(rows.end)
    return {
        "subscription_id": ids("S", n, id_width(n, 8)),
        "customer_id": customer_id.take(pa.array(rows.customer)),
        "product": strings(SUBSCRIPTION_PRODUCTS, rows.product),
        "start": date_array(window, rows.start),
        "end": date_array(window, rows.end, mask=~ended),
        "mrr": pa.array(rows.mrr),
        "end_reason": strings(REASONS, np.maximum(rows.reason, 0), mask=rows.reason < 0),
    }


def transactions_columns(tx: Transactions, customer_id: pa.Array, window: Window) -> Columns:
    """Columns of the transactions table."""
    n = tx.customer.size
    return {
        "transaction_id": ids("T", n, id_width(n, 9)),
        "customer_id": customer_id.take(pa.array(tx.customer)),
        "ts": timestamp_array(window, tx.t),
        "amount": pa.array(tx.amount),
        "margin": pa.array(tx.margin),
        "product": strings(ONE_OFF_PRODUCTS, tx.product),
    }


def payments_columns(pay: Payments, customer_id: pa.Array, window: Window) -> Columns:
    """Columns of the payments table."""
    n = pay.customer.size
    return {
        "invoice_id": ids("INV", n, id_width(n, 9)),
        "customer_id": customer_id.take(pa.array(pay.customer)),
        "due_date": date_array(window, pay.due),
        "paid_date": date_array(window, pay.paid, mask=pay.unpaid),
        "amount": pa.array(pay.amount),
    }


def contacts_columns(c: Contacts, customer_id: pa.Array, window: Window, rng: np.random.Generator) -> Columns:
    """Columns of the contacts table, with a short text drawn from the topic's templates."""
    n = c.customer.size
    texts = tuple(t for topic in TOPICS for t in TEXTS[topic])
    sizes = np.array([len(TEXTS[topic]) for topic in TOPICS])
    offsets = np.cumsum(sizes) - sizes
    text = offsets[c.topic] + np.floor(rng.random(n) * sizes[c.topic]).astype(np.int64)
    return {
        "contact_id": ids("K", n, id_width(n, 9)),
        "customer_id": customer_id.take(pa.array(c.customer)),
        "ts": timestamp_array(window, c.t),
        "channel": strings(CONTACT_CHANNELS, c.channel),
        "direction": strings(DIRECTIONS, c.outbound.astype(np.int64)),
        "topic": strings(TOPICS, c.topic),
        "outcome": strings(OUTCOMES, (~c.resolved).astype(np.int64)),
        "text": strings(texts, text),
    }


def surveys_columns(s: Surveys, customer_id: pa.Array, window: Window) -> Columns:
    """Columns of the surveys table."""
    comments = tuple(text for band in COMMENTS for text in band)
    return {
        "customer_id": customer_id.take(pa.array(s.customer)),
        "ts": timestamp_array(window, s.t),
        "nps": pa.array(s.nps),
        "would_recommend": pa.array(s.would_recommend),
        "did_recommend": pa.array(s.did_recommend, mask=~s.did_known),
        "comment": strings(comments, np.maximum(s.comment, 0), mask=s.comment < 0),
    }


def ratings_columns(r: Ratings, customer_id: pa.Array, window: Window) -> Columns:
    """Columns of the ratings table."""
    return {
        "customer_id": customer_id.take(pa.array(r.customer)),
        "ts": date_array(window, r.t),
        "source": strings(RATING_SOURCES, r.source),
        "rating": strings(GRADES, r.grade),
        "score": pa.array(r.score),
    }
