"""The events export of ``cvm run``: accepted events into the offline hub tables, exactly once.

``POST /events`` stores each accepted event in ``event_log``; until the next run it counts in
the customer 360 from there (:mod:`cvm.events.hubrows`). The run then writes the rows they stand
for into ``transactions``, ``payments``, ``contacts`` and ``surveys`` through the ingestion path
of files (validation, quarantine, one atomic batch per table, source ``events``) and marks the
events ``exported_at`` in the online store, in the transaction that writes the audit entry.

Exactly once, whatever happens between the two stores: a natural key the hub already holds is
never a second row (:func:`cvm.events.hubrows.changes`), so a run that stops after the offline
write and before the marking exports nothing again the next time, only marks. A file that later
sends the same ``transaction_id`` finds it stored (rejected as a duplicate key, or replaced under
``--upsert``). Events of customers the hub does not know yet wait for them, unmarked.

Imports from sibling stages: :mod:`cvm.ingest.batch`, because events reach the hub through the same
validation and atomic batch as files; and :mod:`cvm.delivery.outbox` for its reading of stored UTC times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl
import sqlalchemy as sa

from cvm.contracts import table_schema
from cvm.delivery.outbox import utc
from cvm.events.hubrows import HUB_TABLES, HubRows, LoggedEvent, changes, hub_rows
from cvm.store import OfflineStore, OnlineStore, bulk
from cvm.store.tables import event_log

if TYPE_CHECKING:  # the 360 reads logged_events: no ingest path (pandas) for that
    from cvm.ingest.batch import BatchResult

SOURCE = "events"
"""The source name of the export's batches (in the quarantine, the batch records and the audit log)."""


class IngestFrame(Protocol):
    """Ingest one in-memory batch of a hub table (:meth:`cvm.services.IngestService.ingest_frame`)."""

    def __call__(
        self, table: str, frame: pl.DataFrame, name: str, *, upsert: bool, max_reject_ratio: float
    ) -> BatchResult: ...


@dataclass
class EventExport:
    """What one export did: the events marked, those left for later, and the batches per table."""

    events: int = 0
    waiting: int = 0
    batches: list[BatchResult] = field(default_factory=list)

    def detail(self) -> dict[str, Any]:
        """The audit entry's detail: the events left waiting, and each batch's figures."""
        return {"waiting": self.waiting, "batches": [{**b.summary(), "status": b.status} for b in self.batches]}


def logged_events(conn: sa.Connection, customer_id: str | None = None) -> list[LoggedEvent]:
    """The accepted hub-fact events not exported yet (of one customer, or all), oldest received first."""
    c = event_log.c
    query = (
        sa.select(c.event_id, c.source, c.customer_id, c.type, c.ts, c.properties)
        .where(c.exported_at.is_(None), c.type.in_(sorted(HUB_TABLES)))
        .order_by(c.received_at, c.source, c.event_id)
    )
    if customer_id is not None:
        query = query.where(c.customer_id == customer_id)
    rows = conn.execute(query)
    return [LoggedEvent(r.event_id, r.source, r.customer_id, r.type, utc(r.ts), r.properties) for r in rows]


def _stored(store: OfflineStore, table: str, events: HubRows) -> pl.DataFrame:
    """The stored rows the events may meet: their customers' rows, and any row with one of their keys."""
    rows = events.rows.get(table, {}).values()
    customers = sorted({r["customer_id"] for r in rows} | {c["customer_id"] for c, _ in events.closings})
    keep = pl.col("customer_id").is_in(customers)
    key = table_schema(table).key
    if len(key) == 1:
        keep = keep | pl.col(key[0]).is_in(sorted({r[key[0]] for r in rows}))
    return store.scan(table).filter(keep).collect()


def export_events(
    offline: OfflineStore,
    online: OnlineStore,
    ingest: IngestFrame,
    record: Callable[[sa.Connection, EventExport], None],
    now: datetime | None = None,
) -> EventExport:
    """Write the unexported events into the hub tables, then mark them; ``record`` audits in the marking's transaction.

    New rows go in as a batch that refuses a stored key (``upsert`` off); rows the events change
    (a payment paid, a complaint resolved) as a second batch that replaces them by key. No batch
    is refused for its rejected share: each event was accepted once, and a rejected row is kept
    in the quarantine with its reason.
    """
    now = now or datetime.now(UTC)
    with online.read() as conn:
        pending = logged_events(conn)
    report = EventExport()
    if not pending:
        return report
    known = set(offline.read("customers", ["customer_id"])["customer_id"].to_list())
    ready = [e for e in pending if e.customer_id in known]
    report.waiting = len(pending) - len(ready)
    rows = hub_rows(ready)
    for table in rows.tables():
        change = changes(table, rows, _stored(offline, table, rows))
        for frame, upsert in ((change.new, False), (change.updated, True)):
            if frame.height:
                report.batches.append(ingest(table, frame, SOURCE, upsert=upsert, max_reject_ratio=1.0))
    report.events = len(ready)
    with online.begin() as conn:
        _mark(conn, ready, now)
        record(conn, report)
    return report


def _mark(conn: sa.Connection, events: Sequence[LoggedEvent], now: datetime) -> None:
    marks = [{"event_id": e.event_id, "source": e.source, "exported_at": now} for e in events]
    for start in range(0, len(marks), 1000):
        bulk.update(conn, event_log, marks[start : start + 1000], {"event_id": "event_id", "source": "source"})
