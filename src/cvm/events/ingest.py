"""Real-time ingestion: validate events, update online profiles, decide, and enqueue actions.

Every event's effects (its ``event_log`` row with the result, the online profile,
the actions in the outbox, the suppressions and the ``decision_log`` record) commit together or not at all.
A batch commits as one transaction (one disk sync for up to 1,000 events).

Decisions are made before the write transaction, on what was read without locks
(optimistic concurrency), so that several API processes decide in parallel. The
write transaction first locks the customers' rows (``BEGIN IMMEDIATE`` on SQLite,
``SELECT ... FOR UPDATE`` in id order on PostgreSQL) and compares their
``version``: the customers another writer changed in between (or whose event it
stored) are read and decided again under the lock, the others keep their
decision. A customer that did not exist yet has no row to lock: when another
writer creates it (or stores the same event) first, the writes fail on the unique key;
PostgreSQL then rolls back to a savepoint taken before them, locks and decides again
for what changed, and writes again, in the same transaction. A conflict that remains
retries the batch, then splits it into one transaction per event. The caller hears
back only after the commit, so an acknowledged event is durable. An event id is unique
within its source (:class:`~cvm.contracts.events.EventIn`): a repeat with the same content
changes nothing and returns the first result, one with other content is a ``conflict``
(stored nowhere, and told nothing about the first). Events stored before sources
existed (migration 0005) have the source ``""``, which every source's ids are checked
against too, so that a retry of one of them is still recognised.

Imports from a sibling stage: :mod:`cvm.delivery.outbox`, the transactional outbox. An event's
actions are written in the event's own transaction by the one writer of ``action_requests``
(``enqueue``, ``record_suppressions``, ``write_transaction``, the ``utc`` reading of stored times),
so that an action exists if and only if its cause was committed; the rows are the contract of
:mod:`cvm.contracts.actions`.
"""

from __future__ import annotations

import atexit
import gc
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from cvm.config.settings import Settings
from cvm.contracts.actions import Decision
from cvm.contracts.decisions import CustomerState, Event, RankedAction
from cvm.contracts.event_values import ValueLimits
from cvm.contracts.events import EventError, EventIn, parse_event
from cvm.delivery.outbox import (
    enqueue,
    planned_contacts,
    record_suppressions,
    utc,
    write_transaction,
)
from cvm.events.profile import (
    OnlineProfile,
    StaleProfileError,
    apply_event,
    current_versions,
    load_profiles,
    online_attributes,
    save_profiles,
)
from cvm.events.results import (
    EventKey,
    EventOutcome,
    IngestReport,
    Stored,
    Work,
    action_json,
    refused,
    repeated,
    suppressed_json,
    unknown_customer,
)
from cvm.events.snapshot import OfflineSnapshot
from cvm.store import OnlineStore, bulk, decision_log
from cvm.store.tables import event_log

log = logging.getLogger("cvm.events")
DecideFn = Callable[[CustomerState, datetime, Sequence[Event]], Decision]
RankFn = Callable[[CustomerState, datetime], Sequence[RankedAction]]
Rescorer = Callable[[str, Mapping[str, Any]], Mapping[str, Any] | None]
AuditFn = Callable[[sa.Connection, Sequence[EventIn]], None]
"""Records the events a transaction accepts, in that transaction (the audit log entry of the batch)."""
"""The scoring hook: ``(customer_id, attributes) -> {score: value, score_grade: grade, ...}`` or ``None``."""
RETRIES = 3
PLAN_EVENT_TYPES = {"survey": "survey_answer"}
"""API event types that plan triggers know by another name (``cvm.config.plans.EVENT_TYPES``)."""
RETRYABLE = (sa.exc.IntegrityError, sa.exc.OperationalError, StaleProfileError)


class EventIngestor:
    """Turn events into online state and outbox entries for one workspace.

    Parameters
    ----------
    store
        The online store.
    snapshot
        Offline profile attributes and scores, cached.
    settings
        ``events`` (unknown customers, contact look-back) and ``ingest`` (time zone, future tolerance).
    decide, rank
        The decision and ranking functions bound to the plans configuration
        (``cvm.plans.decide.decide`` and ``rank``).
    rescore
        Optional hook that re-scores one customer with the current models.
    """

    def __init__(
        self,
        store: OnlineStore,
        snapshot: OfflineSnapshot,
        settings: Settings,
        decide: DecideFn,
        rank: RankFn,
        *,
        rescore: Rescorer | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.snapshot = snapshot
        self.settings = settings
        self.decide = decide
        self.rank = rank
        self.rescore = rescore
        self.clock = clock or (lambda: datetime.now(UTC))
        self._batch_turns = threading.BoundedSemaphore(settings.events.concurrent_batches)

    def warm(self) -> None:
        """Prepare a serving process: load the attribute base now, then settle the heap.

        Most objects alive at this point (modules, configuration, compiled plans, the
        attribute base) stay until the process ends, yet every full run of the cyclic
        garbage collector walks them again: about 0.1 s each, several times a minute under
        load. ``gc.freeze`` (the pattern of pre-forking servers) sets them aside after one
        last collection; objects made later are collected as usual.
        """
        self.snapshot.refresh()
        gc.collect()
        gc.freeze()
        atexit.unregister(gc.unfreeze)  # once, however many engines warm up
        atexit.register(gc.unfreeze)  # let the collection at exit reach them again

    # -- validation ------------------------------------------------------------------
    def parse(
        self, raw: Sequence[Any], now: datetime, source: str = ""
    ) -> tuple[list[tuple[int, EventIn]], dict[int, EventOutcome]]:
        """Split submitted events into valid ones and outcomes of invalid ones (by index)."""
        tolerance = timedelta(days=self.settings.ingest.future_tolerance_days)
        limits = ValueLimits.of(self.settings.events)
        id_pattern = self.settings.ingest.customer_id_pattern
        valid: list[tuple[int, EventIn]] = []
        invalid: dict[int, EventOutcome] = {}
        for i, data in enumerate(raw):
            try:
                event = parse_event(
                    data, now=now, future_tolerance=tolerance, limits=limits, source=source, id_pattern=id_pattern
                )
                valid.append((i, event))
            except EventError as exc:
                invalid[i] = refused(i, data, exc.errors)
        return valid, invalid

    def ingest(self, raw: Sequence[Any], source: str = "", audit: AuditFn | None = None) -> IngestReport:
        """Validate, apply, decide and commit ``raw`` events; bad ones are reported, not stored.

        Batches take turns, ``events.concurrent_batches`` at a time (default one) per
        ingestor: threads of one process share its interpreter lock, so two batches at
        once run no faster than one after the other, and on PostgreSQL they also wait
        for each other's row locks (measured over HTTP with two requests per process:
        one at a time gave 10-30% more events per second, at less CPU per event). The
        next batch waits with its request already received. A single event does not
        wait behind a batch. ``source`` is the source of the events that name none (the
        API passes the key's; ``""``, the default, is also the source of the events stored
        before sources existed). ``audit`` records the accepted events in the transaction that stores
        them (one entry per transaction: per batch, or per event when a conflicted batch is split).
        """
        if len(raw) <= 1:
            return self._ingest(raw, source, audit)
        with self._batch_turns:
            return self._ingest(raw, source, audit)

    def _ingest(self, raw: Sequence[Any], source: str, audit: AuditFn | None) -> IngestReport:
        now = self.clock()
        valid, outcomes = self.parse(raw, now, source)
        if valid:
            self.snapshot.refresh()
            outcomes.update(self._commit(valid, now, audit))
        return IngestReport([outcomes[i] for i in range(len(raw))])

    def _commit(
        self, valid: list[tuple[int, EventIn]], now: datetime, audit: AuditFn | None = None
    ) -> dict[int, EventOutcome]:
        """Decide without locks, then write; customers another writer changed meanwhile are decided again."""
        for attempt in range(1, RETRIES + 1):
            work = self._prepare(valid, now)
            try:
                with write_transaction(self.store) as conn:
                    self._settle(conn, work, now)
                    if audit is not None and work.decided:
                        audit(conn, [e for _, e, _ in work.decided])
                return work.echo_repeats(valid)
            except RETRYABLE as exc:
                if attempt == RETRIES and len(valid) == 1:
                    raise
                log.info("event transaction conflicted (%s), attempt %d", type(exc).__name__, attempt)
        out: dict[int, EventOutcome] = {}
        for item in valid:  # one transaction per event, so one stubborn event cannot hold back the rest
            out.update(self._commit([item], now, audit))
        return out

    # -- read and decide -----------------------------------------------------------------------
    def _prepare(self, valid: list[tuple[int, EventIn]], now: datetime) -> Work:
        """Read what the events need (no locks) and decide; repeats of stored events become replays."""
        work = Work()
        with self.store.read() as conn:
            stored = self._stored_events(conn, [e for _, e in valid])
            for i, event in valid:
                key = (event.source, event.event_id)
                if key in stored:
                    work.outcomes[i] = repeated(i, event, stored[key])
                elif key not in work.first_index:
                    work.first_index[key] = i
                    work.fresh.append((i, event))
            self._read_and_decide(conn, work.fresh, now, work, lock=False)
        return work

    def _read_and_decide(
        self, conn: sa.Connection, fresh: list[tuple[int, EventIn]], now: datetime, work: Work, *, lock: bool
    ) -> None:
        ids = sorted({e.customer_id for _, e in fresh})
        profiles = load_profiles(conn, ids, lock=lock)
        work.versions.update({cid: profiles[cid].version if cid in profiles else 0 for cid in ids})
        contacts = planned_contacts(conn, ids, now - timedelta(days=self.settings.events.contact_lookback_days))
        self.snapshot.prefetch(ids)
        touched: dict[str, OnlineProfile] = {}
        for i, event in fresh:
            profile = profiles.get(event.customer_id) or self._new_profile(event.customer_id)
            if profile is None:
                work.outcomes[i] = unknown_customer(i, event)
                continue
            profiles[event.customer_id] = touched[event.customer_id] = profile
            apply_event(profile, event)
            decision = self.decide(self.state(profile, contacts[event.customer_id], now), now, (_event(event),))
            profile.plan_state = dict(decision.plan_state)
            sent = contacts[event.customer_id]
            sent.extend((max(utc(a.not_before), now), a.channel, a.objective) for a in decision.actions)
            work.decided.append((i, event, decision))
        work.profiles += touched.values()

    def _revalidate(self, conn: sa.Connection, work: Work, now: datetime) -> None:
        """Inside the write transaction: decide again for customers that changed since they were read.

        Their rows are locked first (in id order on PostgreSQL; SQLite holds its writer lock),
        so the second decision cannot be overtaken; the other customers' decisions stand.
        """
        ids = sorted({e.customer_id for _, e in work.fresh})
        current = current_versions(conn, ids, lock=True)
        stale = {cid for cid in ids if current.get(cid, 0) != work.versions.get(cid, 0)}
        if not stale:  # storing an event saves its customer's profile: no changed profile, no event stored meanwhile
            return
        stored = self._stored_events(conn, [e for _, e in work.fresh if e.customer_id in stale])
        log.info("%d customers changed under a batch; deciding for them again", len(stale))
        redo = work.drop(stale)
        for i, event in redo:
            if (key := (event.source, event.event_id)) in stored:
                work.outcomes[i] = repeated(i, event, stored[key])
        fresh = [(i, e) for i, e in redo if (e.source, e.event_id) not in stored]
        self._read_and_decide(conn, fresh, now, work, lock=True)

    def _settle(self, conn: sa.Connection, work: Work, now: datetime) -> None:
        """Revalidate, then write; on PostgreSQL a key another writer created meanwhile is settled in place.

        The writes run under a savepoint: when one fails on a unique key (a new customer or
        an event id that a concurrent transaction committed first), they are rolled back to
        it and revalidation, which now sees and locks that row, decides those customers again.
        A single event goes without the savepoint (two round trips): on a conflict its
        transaction is retried as a whole, which costs no more than settling it again.
        """
        if conn.dialect.name != "postgresql" or len(work.fresh) <= 1:  # SQLite's writer lock leaves no such race
            self._revalidate(conn, work, now)
            self._write(conn, work, now)
            return
        for attempt in range(1, RETRIES + 1):
            self._revalidate(conn, work, now)
            versions = [(p, p.version) for p in work.profiles]
            try:
                with conn.begin_nested():
                    self._write(conn, work, now)
                return
            except sa.exc.IntegrityError:
                for p, version in versions:  # the rolled-back writes did not store them
                    p.version = version
                if attempt == RETRIES:
                    raise
                log.info("a concurrent writer created a key first; settling the batch again, attempt %d", attempt)

    def _stored_events(self, conn: sa.Connection, events: list[EventIn]) -> dict[EventKey, Stored]:
        """The stored events with the keys of ``events``: the same source, or the source ``""`` of older events."""
        params = {
            "ids": bulk.id_list({e.event_id for e in events}),
            "sources": bulk.id_list({e.source for e in events} | {""}),
        }
        found = {(r.source, r.event_id): r for r in conn.execute(_stored_query(conn.dialect.name), params)}
        out: dict[EventKey, Stored] = {}
        for e in events:
            if row := found.get((e.source, e.event_id)) or found.get(("", e.event_id)):
                out[(e.source, e.event_id)] = Stored(row.customer_id, row.type, row.ts, row.properties, row.result)
        return out

    def _new_profile(self, customer_id: str) -> OnlineProfile | None:
        if self.snapshot.known(customer_id):
            return OnlineProfile(customer_id)
        if self.settings.events.unknown_customer == "provisional":
            return OnlineProfile(customer_id, provisional=True)
        return None

    # -- write (one transaction) -------------------------------------------------------------
    def _write(self, conn: sa.Connection, work: Work, now: datetime) -> None:
        """Write the profiles, outbox, suppressions and event log; raise on a concurrent change.

        The profiles go first: a customer created concurrently fails there, before the rest is written.
        """
        save_profiles(conn, work.profiles, now)  # a concurrent writer of the same customer fails here
        queued = iter(enqueue(conn, work.actions, now=now, event_ids=work.action_events))
        record_suppressions(conn, work.held, now=now, event_ids=work.held_events)
        decision_log.append(conn, [d.record for _, _, d in work.decided], now)
        rows = []
        for i, event, decision in work.decided:
            actions = tuple(action_json(a, next(queued)) for a in decision.actions)
            suppressed = tuple(suppressed_json(s) for s in decision.suppressed)
            work.outcomes[i] = EventOutcome(i, event.event_id, "accepted", actions, suppressed)
            rows.append(
                {
                    "event_id": event.event_id,
                    "source": event.source,
                    "customer_id": event.customer_id,
                    "type": event.type,
                    "ts": event.ts,
                    "properties": event.properties,
                    "received_at": now,
                    "result": {"actions": list(actions), "suppressed": list(suppressed)},
                }
            )
        bulk.insert(conn, event_log, rows)  # and of the same event id here

    # -- the state a decision sees -------------------------------------------------------
    def state(
        self, profile: OnlineProfile, contacts: Sequence[tuple[datetime, str, str]], now: datetime
    ) -> CustomerState:
        """The :class:`CustomerState` of one customer at ``now``: attribute base, online profile, contacts.

        The attributes are the customer's row of the offline attribute base, made more
        recent by the online profile (:func:`~cvm.events.profile.online_attributes`);
        the scoring hook, when set, re-scores the customer on them.
        """
        cid = profile.customer_id
        offline, consents = self.snapshot.view(cid)
        attributes: dict[str, Any] = {**offline, **online_attributes(profile, offline, now)}
        attributes["customer_id"] = cid
        if self.rescore is not None:
            scores = self.rescore(cid, attributes)
            if scores is not None:
                profile.scores = dict(scores)
        attributes.update(profile.scores)
        attributes["open_complaint"] = open_complaint = bool(attributes.get("open_complaint"))
        return CustomerState(
            customer_id=cid,
            attributes=attributes,
            consents={**consents, **profile.consents},
            timezone=str(offline.get("timezone") or self.settings.plans.policy.timezone),
            contacts_sent=tuple(contacts),
            open_complaint=open_complaint,
            plan_state=dict(profile.plan_state),
        )

    def customer_state(self, customer_id: str, now: datetime | None = None) -> CustomerState | None:
        """One customer's state at ``now`` (default: the clock), ``None`` if unknown; for the next best action."""
        self.snapshot.refresh()
        now = now or self.clock()
        since = now - timedelta(days=self.settings.events.contact_lookback_days)
        with self.store.read() as conn:
            profile = load_profiles(conn, [customer_id]).get(customer_id)
            if profile is None and not self.snapshot.known(customer_id):
                return None
            contacts = planned_contacts(conn, [customer_id], since)[customer_id]
        return self.state(profile or OnlineProfile(customer_id), contacts, now)

    def next_best_action(self, customer_id: str) -> list[RankedAction] | None:
        """The ranked candidate actions for one customer now (``None`` if unknown)."""
        now = self.clock()
        state = self.customer_state(customer_id, now)
        return None if state is None else list(self.rank(state, now))


@lru_cache(maxsize=4)
def _stored_query(dialect: str) -> sa.TextualSelect:
    """The stored events with an id in ``:ids`` and a source in ``:sources`` (built once per dialect).

    See :func:`cvm.store.bulk.in_ids`; the primary key ``(event_id, source)`` serves both conditions.
    """
    c = event_log.c
    sql = (
        "SELECT event_id, source, customer_id, type, ts, properties, result FROM event_log "
        f"WHERE event_id {bulk.in_ids(dialect)} AND source {bulk.in_ids(dialect, 'sources')}"
    )
    return sa.text(sql).columns(c.event_id, c.source, c.customer_id, c.type, c.ts, c.properties, c.result)


def _event(event: EventIn) -> Event:
    kind = PLAN_EVENT_TYPES.get(event.type, event.type)
    return Event(event.event_id, event.customer_id, kind, utc(event.ts), dict(event.properties))
