"""Erasure of a customer from the online store: events, profile, decision log, outbox and contact history.

Events (whose properties may hold personal data), the online profile and the logged decisions are deleted.
Action requests, contact history and suppressions stay for contact-pressure and
delivery statistics, re-keyed to a random token; requests not yet delivered are
dead-lettered so that an erased customer is never contacted. The outbox rows lose
what could lead back to the customer: the idempotency key (a hash of the id, plan and
date) becomes ``erased-<token>-<row id>``, the event id is emptied, and error texts
(which may quote a receiver's reply about the customer) become "customer erased",
in the requests and in their delivery attempts.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from cvm.store.decision_log import TABLE as DECISION_LOG
from cvm.store.decision_log import erase as erase_decisions
from cvm.store.tables import (
    action_requests,
    contact_history,
    customer_online,
    deliveries,
    event_log,
    suppressions,
)

ERASED = "customer erased"


def erase_online(conn: sa.Connection, customer_id: str) -> dict[str, int]:
    """Erase ``customer_id`` from the online tables inside ``conn``'s transaction; rows changed per table."""
    if not sa.inspect(conn).has_table(event_log.name):  # an online store from before the events migration
        return {}
    token = f"anon-{uuid.uuid4().hex[:16]}"
    r = action_requests.c
    counts = {
        "event_log": conn.execute(event_log.delete().where(event_log.c.customer_id == customer_id)).rowcount,
        "customer_online": conn.execute(
            customer_online.delete().where(customer_online.c.customer_id == customer_id)
        ).rowcount,
    }
    conn.execute(
        action_requests.update()
        .where(r.customer_id == customer_id, r.status.in_(("pending", "in_flight", "awaiting_confirmation")))
        .values(status="dead", lease_until=None, last_error=ERASED)
    )
    mine = sa.select(r.id).where(r.customer_id == customer_id).scalar_subquery()
    d = deliveries.c
    conn.execute(deliveries.update().where(d.request_id.in_(mine), d.error.is_not(None)).values(error=ERASED))
    conn.execute(
        action_requests.update()
        .where(r.customer_id == customer_id)
        .values(
            idempotency_key=sa.literal(f"erased-{token}-") + sa.cast(r.id, sa.String),
            event_id=None,
            last_error=sa.case((r.last_error.is_(None), None), else_=sa.literal(ERASED)),
        )
    )
    conn.execute(suppressions.update().where(suppressions.c.customer_id == customer_id).values(event_id=None))
    if sa.inspect(conn).has_table(DECISION_LOG):  # the decision log (migration 0007) is deleted
        counts[DECISION_LOG] = erase_decisions(conn, customer_id)
    for table in (action_requests, contact_history, suppressions):
        changed = conn.execute(table.update().where(table.c.customer_id == customer_id).values(customer_id=token))
        counts[table.name] = changed.rowcount
    return {k: int(v) for k, v in counts.items()}
