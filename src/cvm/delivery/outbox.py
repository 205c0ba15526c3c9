"""The transactional outbox: action requests written in the caller's transaction.

Whoever decides to contact a customer writes an ``action_requests`` row in the
same transaction as the event that caused it, so that an action exists if and
only if its cause was committed. The worker (:mod:`cvm.delivery.worker`) sends
it later and marks it delivered only after the receiver confirmed it. The
``idempotency_key`` is unique: enqueueing the same key twice keeps the first. A request whose
objective ends a relationship (:data:`~cvm.contracts.vocabulary.CONFIRM_OBJECTIVES`) is written
``awaiting_confirmation``: the worker never sends it until a person confirms it (:mod:`cvm.delivery.confirm`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from cvm.contracts.actions import ACTION_FIELDS, SUPPRESSED_FIELDS, ActionRequest, Suppressed
from cvm.contracts.vocabulary import ACTION_STATUSES, CONFIRM_OBJECTIVES
from cvm.errors import BadValueError, UnknownError
from cvm.store import OnlineStore, bulk
from cvm.store.tables import action_requests, contact_history, suppressions

STATUSES = ACTION_STATUSES
CONTACT_STATUSES = ("pending", "in_flight", "delivered")  # planned or done: what contact caps count


@dataclass(frozen=True)
class Enqueued:
    """The outcome of enqueueing one action: its row id, or ``duplicate`` when the key existed."""

    idempotency_key: str
    id: int | None
    duplicate: bool


def utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive value (SQLite drops the zone) is taken as UTC."""
    tz = value.tzinfo
    if tz is UTC:
        return value
    return value.replace(tzinfo=UTC) if tz is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


@contextmanager
def write_transaction(store: OnlineStore) -> Iterator[sa.Connection]:
    """A read-modify-write transaction: ``BEGIN IMMEDIATE`` on SQLite, so no writer slips in between.

    On SQLite the writers first queue for their turn (:meth:`OnlineStore.writer_turn`).
    On PostgreSQL callers lock the rows they change (``SELECT ... FOR UPDATE``).
    """
    with store.writer_turn(), store.engine.connect() as conn:
        if store.backend == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _row(action: ActionRequest, now: datetime, event_id: str | None) -> dict[str, Any]:
    due = max(utc(action.not_before), now) if action.not_before is not None else now
    row = {name: getattr(action, name) for name in ACTION_FIELDS}  # the contract's fields, then the bookkeeping
    row.update(
        reasons=list(action.reasons),
        not_before=utc_or_none(action.not_before),
        event_id=event_id,
        created_at=now,
        status="awaiting_confirmation" if action.objective in CONFIRM_OBJECTIVES else "pending",
        attempts=0,
        next_attempt_at=due,
    )
    return row


def enqueue(
    conn: sa.Connection,
    actions: Sequence[ActionRequest],
    *,
    now: datetime,
    event_ids: Sequence[str | None] | None = None,
) -> list[Enqueued]:
    """Write ``actions`` as pending requests inside ``conn``'s transaction.

    Parameters
    ----------
    conn
        The caller's connection; nothing is committed here.
    actions
        The actions to send; an ``idempotency_key`` already in the outbox is kept as it was.
    now
        The enqueue time (UTC); a request is due at ``max(now, not_before)``.
    event_ids
        The event that caused each action, if any (same length as ``actions``).

    Returns
    -------
    list of Enqueued
        One per action, in order.
    """
    if not actions:
        return []
    causes = list(event_ids) if event_ids is not None else [None] * len(actions)
    rows: dict[str, dict[str, Any]] = {}
    for action, cause in zip(actions, causes, strict=True):
        rows.setdefault(action.idempotency_key, _row(action, utc(now), cause))
    existing, created = _insert_new(conn, rows)
    out, seen = [], set(existing)
    for action in actions:
        key = action.idempotency_key
        fresh = key in created and key not in seen
        seen.add(key)
        out.append(Enqueued(key, created.get(key), duplicate=not fresh))
    return out


def _insert_new(conn: sa.Connection, rows: dict[str, dict[str, Any]]) -> tuple[set[str], dict[str, int]]:
    """Insert the rows whose idempotency key is new: ``(keys found in the outbox, row id of each inserted key)``.

    PostgreSQL does it in one statement (``ON CONFLICT DO NOTHING RETURNING``): a key it
    did not insert was in the outbox already. SQLite looks the keys up before and after.
    """
    if conn.dialect.name == "postgresql":
        back = ("idempotency_key", "id")
        inserted = bulk.insert(conn, action_requests, list(rows.values()), skip_conflicts_on=back[0], returning=back)
        created = {key: int(rid) for key, rid in inserted}
        return {key for key in rows if key not in created}, created
    existing = set(_ids_of_keys(conn, rows))
    new = [row for key, row in rows.items() if key not in existing]
    bulk.insert(conn, action_requests, new, skip_conflicts_on="idempotency_key")
    return existing, _ids_of_keys(conn, [row["idempotency_key"] for row in new])


def _ids_of_keys(conn: sa.Connection, keys: Iterable[str]) -> dict[str, int]:
    """The row id of each idempotency key already in the outbox."""
    keys = list(keys)
    if not keys:
        return {}
    return {key: int(rid) for key, rid in conn.execute(_keys_query(conn.dialect.name), {"ids": bulk.id_list(keys)})}


@lru_cache(maxsize=4)
def _keys_query(dialect: str) -> sa.TextClause:
    """The row id of each idempotency key in ``:ids`` (built once per dialect: see :func:`cvm.store.bulk.in_ids`)."""
    return sa.text(f"SELECT idempotency_key, id FROM action_requests WHERE idempotency_key {bulk.in_ids(dialect)}")


def record_suppressions(
    conn: sa.Connection,
    held: Sequence[Suppressed],
    *,
    now: datetime,
    event_ids: Sequence[str | None] | None = None,
) -> None:
    """Record actions that the policy held back (and why) inside ``conn``'s transaction."""
    if not held:
        return
    causes = list(event_ids) if event_ids is not None else [None] * len(held)
    at = utc(now)
    rows = [
        {
            **{name: getattr(s, name) for name in SUPPRESSED_FIELDS},  # the contract's fields
            "deferred_until": utc_or_none(s.deferred_until),
            "at": at,
            "event_id": cause,
        }
        for s, cause in zip(held, causes, strict=True)
    ]
    bulk.insert(conn, suppressions, rows)


def planned_contacts(
    conn: sa.Connection, customer_ids: Sequence[str], since: datetime
) -> dict[str, list[tuple[datetime, str, str]]]:
    """``(at, channel, objective)`` of contacts sent or planned since ``since``, per customer.

    Pending and in-flight requests count as well as delivered ones, so that a burst
    of events cannot exceed a contact cap before the worker catches up; dead
    requests do not count. ``at`` is the delivery time, else the time it is due.
    """
    out: dict[str, list[tuple[datetime, str, str]]] = {c: [] for c in customer_ids}
    if not customer_ids:
        return out
    rows = conn.execute(_contacts_query(conn.dialect.name), {"ids": bulk.id_list(out), "since": utc(since)})
    return _contacts_of(rows, out)


def all_planned_contacts(conn: sa.Connection, since: datetime) -> dict[str, list[tuple[datetime, str, str]]]:
    """:func:`planned_contacts` of every customer with a request created since ``since`` (the plan batch's caps)."""
    t = action_requests.c
    query = sa.select(t.customer_id, t.status, t.delivered_at, t.next_attempt_at, t.channel, t.objective).where(
        t.created_at >= utc(since)
    )
    return _contacts_of(conn.execute(query), {})


def _contacts_of(rows: Iterable[Any], out: dict[str, list[tuple[datetime, str, str]]]) -> dict[str, Any]:
    for cid, status, delivered, due, channel, objective in rows:
        if status in CONTACT_STATUSES:
            out.setdefault(cid, []).append((utc(delivered or due), channel, objective or ""))
    for contacts in out.values():
        contacts.sort()
    return out


@lru_cache(maxsize=4)
def _contacts_query(dialect: str) -> sa.TextualSelect:
    """Requests of the customers in ``:ids`` created since ``:since`` (built once per dialect).

    The status is checked by the caller: with it in the query, SQLite may pick the
    ``(status, next_attempt_at)`` index and read every pending request of the outbox.
    """
    t = action_requests.c
    sql = (
        "SELECT customer_id, status, delivered_at, next_attempt_at, channel, objective FROM action_requests "
        f"WHERE customer_id {bulk.in_ids(dialect)} AND created_at >= :since"
    )
    columns = (t.customer_id, t.status, t.delivered_at, t.next_attempt_at, t.channel, t.objective)
    return sa.text(sql).bindparams(sa.bindparam("since", type_=t.created_at.type)).columns(*columns)


def contact_history_rows(conn: sa.Connection, customer_id: str) -> list[dict[str, Any]]:
    """Delivered contacts of one customer, oldest first (for the customer 360 timeline)."""
    h, r = contact_history.c, action_requests.c
    query = (
        sa.select(h.at, h.channel, h.objective, h.plan, h.request_id, r.step, r.action, r.offer)
        .join(action_requests, action_requests.c.id == h.request_id)
        .where(h.customer_id == customer_id)
        .order_by(h.at, h.id)
    )
    return [{**row._mapping, "at": utc(row.at)} for row in conn.execute(query)]


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("created_at", "not_before", "next_attempt_at", "lease_until", "delivered_at"):
        out[key] = utc_or_none(out.get(key))
    return out


def list_requests(
    conn: sa.Connection, *, status: str | None = None, customer_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Action requests, newest first, optionally of one status or customer."""
    if status is not None and status not in STATUSES:
        raise BadValueError(f"unknown status {status!r}; statuses: {', '.join(STATUSES)}")
    query = sa.select(action_requests).order_by(action_requests.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(action_requests.c.status == status)
    if customer_id is not None:
        query = query.where(action_requests.c.customer_id == customer_id)
    return [_public(dict(r._mapping)) for r in conn.execute(query)]


def retry_request(conn: sa.Connection, request_id: int, now: datetime) -> dict[str, Any]:
    """Make a dead (or waiting) request due now with a fresh attempt budget.

    Raises ``KeyError`` for an unknown id and ``ValueError`` for a delivered or in-flight one.
    """
    t = action_requests.c
    row = conn.execute(sa.select(action_requests).where(t.id == request_id)).first()
    if row is None:
        raise UnknownError(f"unknown action request {request_id}")
    if row.status not in ("dead", "pending"):
        raise BadValueError(f"action request {request_id} is {row.status}; only dead or pending ones can be retried")
    conn.execute(
        action_requests.update()
        .where(t.id == request_id, t.status.in_(("dead", "pending")))
        .values(status="pending", attempts=0, next_attempt_at=utc(now), lease_until=None, lease_owner=None)
    )
    fresh = conn.execute(sa.select(action_requests).where(t.id == request_id)).one()
    return _public(dict(fresh._mapping))


def status_counts(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    """How many requests are in each status, how many are due, and the oldest pending one."""
    t = action_requests.c
    counts = {s: 0 for s in STATUSES}
    for status, n in conn.execute(sa.select(t.status, sa.func.count()).group_by(t.status)):
        counts[status] = int(n)
    due = conn.execute(
        sa.select(sa.func.count()).where(t.status == "pending", t.next_attempt_at <= utc(now))
    ).scalar_one()
    expired = conn.execute(
        sa.select(sa.func.count()).where(t.status == "in_flight", t.lease_until < utc(now))
    ).scalar_one()
    oldest = conn.execute(sa.select(sa.func.min(t.created_at)).where(t.status == "pending")).scalar_one()
    return {
        **counts,
        "due": int(due),
        "expired_leases": int(expired),
        "oldest_pending_at": utc_or_none(oldest),
    }
