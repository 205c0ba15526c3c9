"""Erasure of a customer from the online store: events, profile, outbox and contact history.

Events (whose properties may hold personal data) and the online profile are deleted.
Action requests, contact history and suppressions stay for contact-pressure and
delivery statistics, re-keyed to a random token; requests not yet delivered are
dead-lettered so that an erased customer is never contacted.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from cvm.store.tables import action_requests, contact_history, customer_online, event_log, suppressions


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
        .where(r.customer_id == customer_id, r.status.in_(("pending", "in_flight")))
        .values(status="dead", lease_until=None, last_error="customer erased")
    )
    for table in (action_requests, contact_history, suppressions):
        changed = conn.execute(table.update().where(table.c.customer_id == customer_id).values(customer_id=token))
        counts[table.name] = changed.rowcount
    return {k: int(v) for k, v in counts.items()}
