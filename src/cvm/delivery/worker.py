"""The outbox worker: claim due requests under a lease, deliver them, settle each outcome.

The cycle is

1. **recover**: requests whose lease ran out (their worker died mid-delivery) go back to
   ``pending`` (or ``dead`` when out of attempts), so nothing stays stuck in flight;
2. **claim**: due ``pending`` requests become ``in_flight`` with ``lease_owner`` and
   ``lease_until``, in one atomic statement (``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
   an ``UPDATE ... WHERE status = 'pending'`` under SQLite's single writer lock);
3. **deliver** through the routed transport. Webhook requests are in flight side by side,
   up to ``concurrency``, each under a total deadline shorter than the lease; the worker
   claims more as slots free up, so a slow receiver holds one slot, never the others;
4. **settle** each request as it finishes: ``delivered`` (plus a contact-history row) only
   after the receiver confirmed with a 2xx; otherwise ``pending`` again after an
   exponential backoff with full jitter, or ``dead`` after ``max_attempts`` or a permanent
   (4xx) refusal. A request past its deadline is a failed attempt, never a delivery.

While requests are in flight the worker **renews** their leases every third of a lease,
so only a worker that stopped loses its claims. Delivery is at least once on the wire
(a receiver whose answer was cut off by the deadline gets the action again); receivers
dedupe on ``webhook-id`` (= ``Idempotency-Key``), and the outbox records each action as
delivered once, so each action takes effect exactly once. A dead request is kept, never
dropped.
"""

from __future__ import annotations

import functools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from cvm.config.settings import DeliverySettings
from cvm.delivery.channels import ConcurrentTransport, Router
from cvm.delivery.claims import Claim, RetryPolicy, WorkerStats, default_worker_id
from cvm.delivery.items import Outcome
from cvm.delivery.outbox import utc, utc_or_none, write_transaction
from cvm.store import OnlineStore
from cvm.store.tables import action_requests, contact_history, deliveries

log = logging.getLogger("cvm.delivery")
MAX_CLAIM = 500


class Worker:
    """Deliver the outbox of one online store.

    Parameters
    ----------
    store
        The online store holding ``action_requests``.
    router
        The transport for each contact channel.
    settings
        Attempts, backoff, lease, concurrency and polling.
    clock, rng
        Injected for tests; default UTC wall clock and an unseeded generator.
    """

    def __init__(
        self,
        store: OnlineStore,
        router: Router,
        settings: DeliverySettings,
        *,
        worker_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.router = router
        self.settings = settings
        self.policy = RetryPolicy(settings.max_attempts, settings.backoff_base_seconds, settings.backoff_max_seconds)
        self.worker_id = worker_id or default_worker_id()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.rng = rng or random.Random()
        self.stats = WorkerStats()
        self._in_flight: dict[int, Claim] = {}  # requests on the wire; touched by the worker's thread only
        self._finished: queue.SimpleQueue[tuple[Claim, Outcome]] = queue.SimpleQueue()
        self._concurrent = any(isinstance(t, ConcurrentTransport) for t in router.transports.values())

    @property
    def claim_size(self) -> int:
        """Requests per batch claim: as many as ``concurrency`` slots surely deliver within half a lease."""
        s = self.settings
        waves = max(1, int((s.lease_seconds / 2) // s.deadline_seconds))
        return min(MAX_CLAIM, s.concurrency * waves)

    # -- recover, claim, renew: each in the caller's transaction or its own --------------
    def recover(self) -> int:
        """Take back requests whose lease expired; returns how many."""
        with write_transaction(self.store) as conn:
            return self._recover(conn, self.clock())

    def _recover(self, conn: sa.Connection, now: datetime) -> int:
        t = action_requests.c
        out_of_attempts = t.attempts >= self.policy.max_attempts
        stmt = (
            action_requests.update()
            .where(t.status == "in_flight", t.lease_until < now)
            .values(
                status=sa.case((out_of_attempts, "dead"), else_="pending"),
                next_attempt_at=now,
                lease_until=None,
                last_error="lease expired: the worker stopped during delivery",
            )
            .returning(t.id, t.attempts)
        )
        taken = conn.execute(stmt).all()
        if taken:
            conn.execute(
                deliveries.insert(),
                [
                    {"request_id": rid, "attempt": n, "status": "lost", "at": now, "error": "lease expired"}
                    for rid, n in taken
                ],
            )
            log.warning("recovered %d requests whose lease expired", len(taken))
            self.stats.add(recovered=len(taken))
        return len(taken)

    def claim(self, limit: int | None = None) -> list[Claim]:
        """Atomically take up to ``limit`` due requests for this worker."""
        with write_transaction(self.store) as conn:
            return self._claim(conn, limit or self.claim_size, self.clock())

    def _claim(self, conn: sa.Connection, limit: int, now: datetime) -> list[Claim]:
        t = action_requests.c
        due = (
            sa.select(t.id)
            .where(t.status == "pending", t.next_attempt_at <= now)
            .order_by(t.next_attempt_at, t.id)
            .limit(limit)
        )
        if self.store.backend == "postgresql":
            due = due.with_for_update(skip_locked=True)
        stmt = (
            action_requests.update()
            .where(t.id.in_(due.scalar_subquery()), t.status == "pending")
            .values(
                status="in_flight",
                attempts=t.attempts + 1,
                lease_owner=self.worker_id,
                lease_until=now + timedelta(seconds=self.settings.lease_seconds),
            )
            .returning(*action_requests.c)
        )
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
        rows.sort(key=lambda r: (utc(r["next_attempt_at"]), r["id"]))
        self.stats.add(claimed=len(rows))
        return [Claim(r) for r in rows]

    def renew(self) -> int:
        """Extend the leases of this worker's requests in flight; returns how many it still holds."""
        if not self._in_flight:
            return 0
        with write_transaction(self.store) as conn:
            return self._renew(conn, self.clock())

    def _renew(self, conn: sa.Connection, now: datetime) -> int:
        if not self._in_flight:
            return 0
        t = action_requests.c
        stmt = (
            action_requests.update()
            .where(t.id.in_(list(self._in_flight)), t.lease_owner == self.worker_id, t.status == "in_flight")
            .values(lease_until=now + timedelta(seconds=self.settings.lease_seconds))
        )
        held = int(conn.execute(stmt).rowcount)
        self.stats.add(renewed=held)
        return held

    # -- deliver and settle ------------------------------------------------------------
    def deliver(self, claims: Sequence[Claim]) -> None:
        """Deliver ``claims`` and settle every outcome before returning."""
        self._start(claims)
        while self._in_flight:
            self.settle(self._take_finished(self.settings.poll_seconds))

    def _start(self, claims: Sequence[Claim]) -> None:
        """Put concurrent deliveries in flight; deliver and settle the others (file and log batches) now."""
        groups: dict[int, list[Claim]] = {}
        for claim in claims:
            groups.setdefault(id(self.router.transport_for(claim.row["channel"])), []).append(claim)
        for group in groups.values():
            transport = self.router.transport_for(group[0].row["channel"])
            if not isinstance(transport, ConcurrentTransport):
                self._deliver_batch(group)
                continue
            for claim in group:
                self._in_flight[claim.id] = claim
                transport.submit(claim.outbound()).add_done_callback(functools.partial(self._finish, claim))

    def _finish(self, claim: Claim, future: Future[Outcome]) -> None:
        """Hand a finished request to the worker's thread (runs on the transport's thread)."""
        try:
            outcome = future.result()
        except BaseException as exc:  # a transport bug or a cancelled request must not strand the claim
            outcome = Outcome(False, "failed", error=f"{type(exc).__name__}: {exc}"[:1000])
        self._finished.put((claim, outcome))

    def _take_finished(self, wait: float) -> list[tuple[Claim, Outcome]]:
        """The requests that finished, waiting up to ``wait`` seconds for the first; they leave the flight."""
        try:
            results = [self._finished.get(timeout=max(wait, 0.0))]
        except queue.Empty:
            return []
        while True:
            try:
                results.append(self._finished.get_nowait())
            except queue.Empty:
                break
        for claim, _ in results:
            self._in_flight.pop(claim.id, None)
        return results

    def _deliver_batch(self, claims: Sequence[Claim]) -> None:
        transport = self.router.transport_for(claims[0].row["channel"])
        try:
            outcomes = transport.deliver([c.outbound() for c in claims])
        except Exception as exc:  # a transport bug must not strand the claims: retry them later
            log.exception("transport %s failed", transport.name)
            outcomes = [Outcome(False, "failed", error=f"{type(exc).__name__}: {exc}"[:1000]) for _ in claims]
        self.settle(list(zip(claims, outcomes, strict=True)))

    def settle(self, results: Sequence[tuple[Claim, Outcome]]) -> None:
        """Record outcomes in one transaction; only this worker's live claims change status."""
        if results:
            with write_transaction(self.store) as conn:
                self._settle(conn, results, self.clock())

    def _settle(self, conn: sa.Connection, results: Sequence[tuple[Claim, Outcome]], now: datetime) -> None:
        for claim, outcome in results:
            if outcome.ok:
                self._settle_delivered(conn, claim, outcome, now)
            else:
                self._settle_failed(conn, claim, outcome, now)

    def _mine(self, claim: Claim, *statuses: str) -> sa.ColumnElement[bool]:
        t = action_requests.c
        return sa.and_(t.id == claim.id, t.lease_owner == self.worker_id, t.status.in_(statuses))

    def _settle_delivered(self, conn: sa.Connection, claim: Claim, outcome: Outcome, now: datetime) -> None:
        # A worker whose lease ran out still owns the proof of delivery unless another worker re-claimed it.
        changed = conn.execute(
            action_requests.update()
            .where(self._mine(claim, "in_flight", "pending", "dead"))
            .values(status="delivered", delivered_at=now, lease_until=None, last_error=None)
        ).rowcount
        self._record(conn, claim, outcome, now)
        if changed != 1:
            self.stats.add(settled_late=1)
            return
        r = claim.row
        conn.execute(
            contact_history.insert().values(
                customer_id=r["customer_id"],
                at=now,
                channel=r["channel"],
                objective=r["objective"],
                plan=r["plan"],
                request_id=claim.id,
            )
        )
        self.stats.add(delivered=1)

    def _settle_failed(self, conn: sa.Connection, claim: Claim, outcome: Outcome, now: datetime) -> None:
        attempt = int(claim.row["attempts"])
        dead = outcome.permanent or attempt >= self.policy.max_attempts
        wait = self.policy.delay(attempt, self.rng)
        values: dict[str, Any] = {"lease_until": None, "last_error": outcome.error}
        values.update({"status": "dead"} if dead else {"status": "pending"})
        values["next_attempt_at"] = now if dead else now + timedelta(seconds=wait)
        changed = conn.execute(action_requests.update().where(self._mine(claim, "in_flight")).values(**values)).rowcount
        self._record(conn, claim, outcome, now)
        if changed == 1:
            self.stats.add(**({"dead": 1} if dead else {"retried": 1}))
            if dead:
                log.error("request %s is dead after %d attempts: %s", claim.id, attempt, outcome.error)

    def _record(self, conn: sa.Connection, claim: Claim, outcome: Outcome, now: datetime) -> None:
        conn.execute(
            deliveries.insert().values(
                request_id=claim.id,
                attempt=int(claim.row["attempts"]),
                status=outcome.status,
                http_status=outcome.http_status,
                at=now,
                duration_ms=outcome.duration_ms,
                error=outcome.error,
            )
        )

    # -- the loop ----------------------------------------------------------------------
    def run_cycle(self) -> int:
        """Recover, claim a batch and deliver it to the end; returns how many requests were claimed."""
        self.recover()
        claims = self.claim()
        if claims:
            self.deliver(claims)
        return len(claims)

    def run(
        self, *, once: bool = False, stop: threading.Event | None = None, max_seconds: float | None = None
    ) -> WorkerStats:
        """Deliver until stopped; with ``once``, until nothing is due or in flight.

        Each turn settles the requests that finished and claims as many as there are free
        slots, in one transaction (and renews the leases in flight every third of
        ``lease_seconds``, recovers expired ones every ``poll_seconds``).

        Parameters
        ----------
        once
            Return as soon as a claim finds nothing due and nothing is in flight (cron jobs, tests).
        stop
            Set it to stop claiming; the requests in flight finish first (``cvm worker`` sets it on SIGTERM).
        max_seconds
            Stop claiming after this long (a bound for tests and benchmarks).
        """
        stop = stop or threading.Event()
        end = None if max_seconds is None else time.monotonic() + max_seconds
        every, poll = self.settings.lease_seconds / 3, self.settings.poll_seconds
        renew_at, recover_at = time.monotonic() + every, 0.0
        finished: list[tuple[Claim, Outcome]] = []
        while True:
            now = time.monotonic()
            accepting = not stop.is_set() and (end is None or now < end)
            if not accepting and not self._in_flight and not finished:
                break
            renew, recover = now >= renew_at, accepting and now >= recover_at
            limit = self._free_slots() if accepting else 0
            claims, finished = self._turn(finished, limit, renew=renew, recover=recover), []
            renew_at = now + every if renew else renew_at
            recover_at = now + poll if recover else recover_at
            self._start(claims)
            if once and not claims and not self._in_flight:
                break
            more = 0 < limit == len(claims) and self._free_slots() > 0
            if self._in_flight:
                finished = self._take_finished(0.0 if more else min(poll, renew_at - time.monotonic()))
            elif not claims:
                stop.wait(poll)
        return self.stats

    def _free_slots(self) -> int:
        """How many requests to claim now: free slots for concurrent transports, else a batch.

        While requests are in flight, free slots are claimed once a quarter of them are free:
        a claim per finished request would cost a statement per request for little gain.
        """
        if not self._concurrent:
            return self.claim_size
        free = self.settings.concurrency - len(self._in_flight)
        return free if not self._in_flight or free >= max(1, self.settings.concurrency // 4) else 0

    def _turn(
        self, finished: Sequence[tuple[Claim, Outcome]], limit: int, *, renew: bool, recover: bool
    ) -> list[Claim]:
        """Settle ``finished``, renew, recover and claim up to ``limit``, in one transaction (one commit)."""
        if not (finished or limit > 0 or renew or recover):
            return []
        with write_transaction(self.store) as conn:
            now = self.clock()
            self._settle(conn, finished, now)
            if renew:
                self._renew(conn, now)
            if recover:
                self._recover(conn, now)
            return self._claim(conn, limit, now) if limit > 0 else []

    def close(self) -> None:
        self.router.close()


def next_due(store: OnlineStore) -> datetime | None:
    """When the next pending request falls due (``None`` when none is pending)."""
    t = action_requests.c
    with store.engine.connect() as conn:
        value = conn.execute(sa.select(sa.func.min(t.next_attempt_at)).where(t.status == "pending")).scalar_one()
    return utc_or_none(value)
