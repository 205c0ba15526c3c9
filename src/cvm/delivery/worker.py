"""The outbox worker: claim due requests under a lease, deliver them, settle each outcome.

The cycle is

1. **recover**: requests whose lease ran out (their worker died mid-delivery) go back to
   ``pending`` (or ``dead`` when out of attempts), so nothing stays stuck in flight;
2. **claim**: due ``pending`` requests become ``in_flight`` with ``lease_owner`` and
   ``lease_until``, in one atomic statement (``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
   an ``UPDATE ... WHERE status = 'pending'`` under SQLite's single writer lock);
3. **deliver** through the routed transport (webhooks in parallel);
4. **settle**: ``delivered`` (plus a contact-history row) only after the receiver
   confirmed with a 2xx; otherwise ``pending`` again after an exponential backoff with
   full jitter, or ``dead`` after ``max_attempts`` or a permanent (4xx) refusal.

Delivery is at least once; receivers dedupe on the ``Idempotency-Key`` header, so
each action takes effect exactly once. A dead request is kept, never dropped.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from cvm.config.settings import DeliverySettings
from cvm.contracts.actions import PAYLOAD_FIELDS
from cvm.delivery.channels import Router
from cvm.delivery.items import Outbound, Outcome
from cvm.delivery.outbox import utc, utc_or_none, write_transaction
from cvm.store import OnlineStore
from cvm.store.tables import action_requests, contact_history, deliveries

log = logging.getLogger("cvm.delivery")
MAX_CLAIM = 500


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, and the attempt budget.

    The wait before attempt ``n + 1`` is uniform on ``[0, min(cap, base * 2**(n - 1))]``
    ("full jitter", Brooker 2015, *Exponential Backoff And Jitter*, AWS Architecture
    Blog), which spreads retries of many failed requests instead of synchronising them.

    Examples
    --------
    >>> policy = RetryPolicy(max_attempts=5, base=1.0, cap=30.0)
    >>> 0.0 <= policy.delay(3, random.Random(1)) <= 4.0
    True
    """

    max_attempts: int
    base: float
    cap: float

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        return rng.uniform(0.0, min(self.cap, self.base * 2.0 ** max(attempt - 1, 0)))


@dataclass
class WorkerStats:
    """What one worker run did."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    recovered: int = 0
    settled_late: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def to_dict(self) -> dict[str, int]:
        keys = ("claimed", "delivered", "retried", "dead", "recovered", "settled_late")
        return {k: int(getattr(self, k)) for k in keys}


@dataclass(frozen=True)
class Claim:
    """A request this worker holds: its row and the attempt number it is on."""

    row: Mapping[str, Any]

    @property
    def id(self) -> int:
        return int(self.row["id"])

    def outbound(self) -> Outbound:
        r = self.row
        payload = {k: r[k] for k in PAYLOAD_FIELDS}  # the action-request contract, its row id and cause
        payload.update(
            id=self.id,
            created_at=utc(r["created_at"]).isoformat(),
            not_before=None if r["not_before"] is None else utc(r["not_before"]).isoformat(),
        )
        return Outbound(self.id, int(r["attempts"]), r["idempotency_key"], r["channel"], payload)


def default_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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
        self._rng_lock = threading.Lock()

    @property
    def claim_size(self) -> int:
        """Requests per claim: as many as ``concurrency`` threads surely deliver within half a lease."""
        s = self.settings
        waves = max(1, int((s.lease_seconds / 2) // s.timeout_seconds))
        return min(MAX_CLAIM, s.concurrency * waves)

    # -- recover and claim -------------------------------------------------------------
    def recover(self) -> int:
        """Take back requests whose lease expired; returns how many."""
        now = self.clock()
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
        with write_transaction(self.store) as conn:
            taken = conn.execute(stmt).all()
            if taken:
                conn.execute(
                    deliveries.insert(),
                    [
                        {"request_id": rid, "attempt": n, "status": "lost", "at": now, "error": "lease expired"}
                        for rid, n in taken
                    ],
                )
        if taken:
            log.warning("recovered %d requests whose lease expired", len(taken))
            self.stats.add(recovered=len(taken))
        return len(taken)

    def claim(self, limit: int | None = None) -> list[Claim]:
        """Atomically take up to ``limit`` due requests for this worker."""
        now = self.clock()
        t = action_requests.c
        due = (
            sa.select(t.id)
            .where(t.status == "pending", t.next_attempt_at <= now)
            .order_by(t.next_attempt_at, t.id)
            .limit(limit or self.claim_size)
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
        with write_transaction(self.store) as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        rows.sort(key=lambda r: (utc(r["next_attempt_at"]), r["id"]))
        self.stats.add(claimed=len(rows))
        return [Claim(r) for r in rows]

    # -- deliver and settle ------------------------------------------------------------
    def deliver(self, claims: Sequence[Claim], pool: ThreadPoolExecutor | None = None) -> None:
        """Deliver ``claims`` and settle each outcome (parallel transports use ``pool``)."""
        groups: dict[int, list[Claim]] = {}
        for claim in claims:
            groups.setdefault(id(self.router.transport_for(claim.row["channel"])), []).append(claim)
        futures = []
        for group in groups.values():
            transport = self.router.transport_for(group[0].row["channel"])
            if transport.parallel and pool is not None:
                futures += [pool.submit(self._deliver_batch, [c]) for c in group]
            else:
                self._deliver_batch(group)
        for future in futures:
            future.result()

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
        now = self.clock()
        with write_transaction(self.store) as conn:
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
        with self._rng_lock:
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
    def run_cycle(self, pool: ThreadPoolExecutor | None = None) -> int:
        """Recover, claim and deliver once; returns how many requests were claimed."""
        self.recover()
        claims = self.claim()
        if claims:
            self.deliver(claims, pool)
        return len(claims)

    def run(
        self, *, once: bool = False, stop: threading.Event | None = None, max_seconds: float | None = None
    ) -> WorkerStats:
        """Deliver until stopped; with ``once``, until nothing is due.

        Parameters
        ----------
        once
            Return as soon as a claim finds nothing due (for cron jobs and tests).
        stop
            Set it to end the loop after the current cycle (``cvm worker`` sets it on SIGTERM).
        max_seconds
            Return after this long at the latest (a bound for tests and benchmarks).
        """
        stop = stop or threading.Event()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        with ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="cvm-deliver") as pool:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                claimed = self.run_cycle(pool)
                if claimed == 0:
                    if once:
                        break
                    stop.wait(self.settings.poll_seconds)
        return self.stats

    def close(self) -> None:
        self.router.close()


def next_due(store: OnlineStore) -> datetime | None:
    """When the next pending request falls due (``None`` when none is pending)."""
    t = action_requests.c
    with store.engine.connect() as conn:
        value = conn.execute(sa.select(sa.func.min(t.next_attempt_at)).where(t.status == "pending")).scalar_one()
    return utc_or_none(value)
