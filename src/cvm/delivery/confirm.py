"""A person's word on an action that ends a relationship: confirm it (then it is sent) or reject it.

CVM never ends a contract on its own. A step whose objective is ``end`` (flag for non-renewal, close the
account) is written to the outbox as ``awaiting_confirmation`` (:mod:`cvm.delivery.outbox`); the worker claims
only ``pending`` requests, so nothing is sent until someone runs ``cvm actions confirm ID`` (or
``POST /actions/{id}/confirm``): the request becomes ``pending``, due at once (or at its ``not_before``),
and is delivered exactly once like any other. ``cvm actions reject ID`` makes it ``rejected``: kept for
the record, never sent. Both change only a request still awaiting confirmation (a single conditional
``UPDATE``, so two people confirming at once send it once).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from cvm.delivery.outbox import _public, utc
from cvm.errors import BadValueError, UnknownError
from cvm.store.tables import action_requests

AWAITING = "awaiting_confirmation"


def _decide(conn: sa.Connection, request_id: int, values: dict[str, Any], verb: str) -> dict[str, Any]:
    t = action_requests.c
    done = conn.execute(action_requests.update().where(t.id == request_id, t.status == AWAITING).values(**values))
    row = conn.execute(sa.select(action_requests).where(t.id == request_id)).first()
    if row is None:
        raise UnknownError(f"unknown action request {request_id}")
    if done.rowcount != 1:
        raise BadValueError(
            f"action request {request_id} is {row.status}; only one awaiting confirmation can be {verb}"
        )
    return _public(dict(row._mapping))


def confirm_request(conn: sa.Connection, request_id: int, now: datetime) -> dict[str, Any]:
    """Let the worker send an action awaiting confirmation: ``pending``, due at ``max(now, not_before)``.

    Raises :class:`~cvm.errors.UnknownError` for an unknown id and :class:`~cvm.errors.BadValueError` for a
    request in any other status (confirmed, rejected or not needing confirmation).
    """
    t = action_requests.c
    due = sa.case((t.not_before > utc(now), t.not_before), else_=sa.literal(utc(now), type_=t.next_attempt_at.type))
    return _decide(conn, request_id, {"status": "pending", "next_attempt_at": due}, "confirmed")


def reject_request(conn: sa.Connection, request_id: int) -> dict[str, Any]:
    """Drop an action awaiting confirmation: ``rejected``, kept for the record and never sent."""
    return _decide(conn, request_id, {"status": "rejected", "last_error": "rejected by a person"}, "rejected")
