"""Persisting a batch of plan decisions: outbox, suppressions, plan states, pilot assignments and the decision log.

The batch path (``cvm run``) and the real-time path (``POST /events``) both call
:func:`cvm.plans.decide.decide`; this module stores what the batch decided, in one
online-store transaction, with the same tables and idempotency keys the real-time
path uses, so a customer decided twice never gets the same action twice.

Imports from sibling stages, as the real-time path's writer would: :mod:`cvm.delivery.outbox`
(the transactional outbox: actions and suppressions), :mod:`cvm.events.profile` (the plan state
lives in the online profile, versioned against concurrent events) and :mod:`cvm.experiments`
(``records``: the pilot assignments). The batch must write exactly what the real-time path
writes, in one transaction, so it uses the same writers rather than copies of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from cvm.contracts.actions import Decision
from cvm.delivery.outbox import enqueue, record_suppressions, utc, write_transaction
from cvm.events.profile import OnlineProfile, StaleProfileError, load_profiles, save_profiles
from cvm.store import OnlineStore, bulk, decision_log
from cvm.store.tables import customer_online, suppressions

RETRIES = 3


@dataclass(frozen=True)
class Persisted:
    """What one batch of decisions wrote."""

    customers: int
    enqueued: int
    duplicates: int
    suppressed: int
    assignments: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    logged: int = 0
    """Decisions appended to ``decision_log`` (:mod:`cvm.store.decision_log`)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _reason_counts(decisions: Sequence[tuple[str, Decision]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _cid, decision in decisions:
        for held in decision.suppressed:
            key = held.reason.split(":", 1)[0]
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _write(store: OnlineStore, decisions: Sequence[tuple[str, Decision]], now: datetime) -> Persisted:
    from cvm.experiments import records

    with write_transaction(store) as conn:
        profiles = load_profiles(conn, [cid for cid, _ in decisions], lock=True)
        changed: list[OnlineProfile] = []
        for cid, decision in decisions:
            profile = profiles.get(cid) or OnlineProfile(cid)
            if dict(decision.plan_state) != profile.plan_state:
                profile.plan_state = dict(decision.plan_state)
                changed.append(profile)
        queued = enqueue(conn, [a for _, d in decisions for a in d.actions], now=now)
        held = [s for _, d in decisions for s in d.suppressed]
        _forget_replayed(conn, [cid for cid, _ in decisions], now)
        record_suppressions(conn, held, now=now)
        assigned = records.record(conn, [a for _, d in decisions for a in getattr(d, "assignments", ())])
        logged = decision_log.append(conn, [d.record for _, d in decisions], now)
        save_profiles(conn, changed, now)
    fresh = sum(1 for q in queued if not q.duplicate)
    counts = _reason_counts(decisions)
    return Persisted(len(decisions), fresh, len(queued) - fresh, len(held), assigned, counts, logged)


def _forget_replayed(conn: sa.Connection, customer_ids: Sequence[str], now: datetime) -> None:
    """Delete the batch suppressions these customers got at ``now``: a replayed batch (a retried Spark task,
    the same run again) records its suppressions once, as its actions (idempotency keys) and log (decision ids)."""
    if not customer_ids:
        return
    sql = (
        f"DELETE FROM suppressions WHERE event_id IS NULL AND at = :at AND customer_id {bulk.in_ids(conn.dialect.name)}"
    )
    stmt = sa.text(sql).bindparams(sa.bindparam("at", type_=suppressions.c.at.type))
    conn.execute(stmt, {"at": utc(now), "ids": bulk.id_list(customer_ids)})


def persist_decisions(store: OnlineStore, decisions: Sequence[tuple[str, Decision]], now: datetime) -> Persisted:
    """Store a batch's decisions atomically, retrying when a real-time writer changed a profile meanwhile."""
    for attempt in range(RETRIES):
        try:
            return _write(store, decisions, now)
        except StaleProfileError:
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def plan_states(store: OnlineStore) -> dict[str, dict[str, Any]]:
    """Every customer's stored plan state (those without one left out): where the next batch starts."""
    return dict(iter_plan_states(store))


def iter_plan_states(store: OnlineStore, chunk: int = 10_000) -> Iterator[tuple[str, dict[str, Any]]]:
    """:func:`plan_states` as ``(customer id, plan state)`` pairs, read ``chunk`` rows at a time."""
    query = sa.select(customer_online.c.customer_id, customer_online.c.plan_state)
    with store.begin() as conn:
        for cid, ps in conn.execution_options(yield_per=chunk).execute(query):
            if ps:
                yield cid, dict(ps)
