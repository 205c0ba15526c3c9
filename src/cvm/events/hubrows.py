"""Events as hub facts: the rows of ``transactions``, ``payments``, ``contacts`` and ``surveys`` they stand for.

One mapping serves both the customer 360 (the events not exported yet, at once) and the export
of ``cvm run`` (:mod:`cvm.events.export`), so both count an event the same way:

- ``transaction``: a ``transactions`` row keyed by ``properties.transaction_id``;
- ``payment_late`` and ``payment_received``: the ``payments`` row of ``properties.invoice_id``,
  due on ``due_date`` (or ``days_late`` days before the event), paid on the day of the receipt;
- ``contact`` and ``complaint``: a ``contacts`` row keyed by ``properties.contact_id`` (or
  ``complaint_id``), a complaint with the topic ``complaint`` and its status as ``outcome``
  (:data:`cvm.contracts.tables.COMPLAINT_STATUSES`). A ``resolved`` complaint that names no id
  resolves the customer's earlier open complaints (as the online profile does), and is a row of
  its own only when the customer has no earlier complaint;
- ``survey``: a ``surveys`` row keyed by customer and time.

An event that names no natural key gets ``<source>:<event_id>`` (its id where the source is empty),
unique as the event id is. A natural key the hub already holds is never a second row: a transaction
or a survey stays as stored; a payment or a contact is updated with what the event adds (paid,
resolved). Subscription events stay in the online profile only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from cvm.contracts import table_schema
from cvm.contracts.tables import COMPLAINT_STATUS_SYNONYMS, complaint_status
from cvm.store.schema import polars_schema

HUB_TABLES = {
    "transaction": "transactions",
    "payment_late": "payments",
    "payment_received": "payments",
    "contact": "contacts",
    "complaint": "contacts",
    "survey": "surveys",
}
"""The hub table of each event type that is a hub fact."""
UPDATABLE = frozenset({"payments", "contacts"})
"""Tables whose stored rows a later event completes (paid, resolved); the others are never changed."""
STORED = "__stored__"


@dataclass(frozen=True)
class LoggedEvent:
    """An accepted event as ``event_log`` holds it (``ts`` in UTC)."""

    event_id: str
    source: str
    customer_id: str
    type: str
    ts: datetime
    properties: Mapping[str, Any]

    @property
    def key(self) -> str:
        """The natural key of an event that names none: unique as ``(source, event_id)`` is."""
        return f"{self.source}:{self.event_id}" if self.source else self.event_id


Row = dict[str, Any]


def _transaction(e: LoggedEvent) -> Row:
    p = e.properties
    return {
        "transaction_id": p.get("transaction_id") or e.key,
        "ts": e.ts,
        "amount": p.get("amount"),
        "margin": p.get("margin"),
        "product": p.get("product"),
    }


def _payment_late(e: LoggedEvent) -> Row:
    p = e.properties
    due = p.get("due_date")
    due_day = date.fromisoformat(due) if due else e.ts.date() - timedelta(days=int(p.get("days_late") or 0))
    return {"invoice_id": p.get("invoice_id") or e.key, "due_date": due_day, "amount": p.get("amount")}


def _payment_received(e: LoggedEvent) -> Row:
    p = e.properties
    return {"invoice_id": p.get("invoice_id") or e.key, "paid_date": e.ts.date(), "amount": p.get("amount")}


def _contact(e: LoggedEvent) -> Row:
    p = e.properties
    return {
        "contact_id": p.get("contact_id") or e.key,
        "ts": e.ts,
        "channel": p.get("channel"),
        "direction": p.get("direction"),
        "topic": p.get("topic"),
        "outcome": p.get("outcome"),
    }


def _complaint(e: LoggedEvent) -> Row:
    p = e.properties
    return {
        "contact_id": p.get("complaint_id") or p.get("contact_id") or e.key,
        "ts": e.ts,
        "channel": p.get("channel") or "unspecified",
        "direction": "inbound",
        "topic": "complaint",
        "outcome": complaint_status(p.get("status")) or "open",
    }


def _survey(e: LoggedEvent) -> Row:
    p = e.properties
    answers = {k: p.get(k) for k in ("nps", "would_recommend", "did_recommend")}
    return {"ts": e.ts, **answers}


ROWS: dict[str, Callable[[LoggedEvent], Row]] = {
    "transaction": _transaction,
    "payment_late": _payment_late,
    "payment_received": _payment_received,
    "contact": _contact,
    "complaint": _complaint,
    "survey": _survey,
}


@dataclass
class HubRows:
    """The hub rows a set of events stands for, one per natural key, before they meet the stored rows."""

    rows: dict[str, dict[tuple[Any, ...], Row]] = field(default_factory=dict)
    closings: list[tuple[Row, bool]] = field(default_factory=list)
    """Complaints resolved without an id, each with whether the events had an earlier complaint of its customer."""

    def frame(self, table: str) -> pl.DataFrame:
        """The event rows of ``table`` (typed as the hub's; ``None`` where the events said nothing)."""
        schema = polars_schema(table_schema(table))
        return pl.DataFrame(list(self.rows.get(table, {}).values()), schema=schema, orient="row")

    def tables(self) -> list[str]:
        """The hub tables the events have rows for (``contacts`` also for resolutions alone)."""
        wanted = {*(t for t, rows in self.rows.items() if rows), *(["contacts"] if self.closings else [])}
        return [t for t in dict.fromkeys(HUB_TABLES.values()) if t in wanted]


def _resolves(e: LoggedEvent) -> bool:
    """A complaint resolved without naming which one: it resolves the customer's earlier open complaints."""
    p = e.properties
    return (
        e.type == "complaint"
        and complaint_status(p.get("status")) == "resolved"
        and not (p.get("complaint_id") or p.get("contact_id"))
    )


def hub_rows(events: Iterable[LoggedEvent]) -> HubRows:
    """Fold ``events`` (in time order) into one row per natural key and hub table."""
    out = HubRows()
    for e in sorted((e for e in events if e.type in HUB_TABLES), key=lambda e: (e.ts, e.source, e.event_id)):
        table = HUB_TABLES[e.type]
        schema = table_schema(table)
        row = {"customer_id": e.customer_id, **ROWS[e.type](e)}
        rows = out.rows.setdefault(table, {})
        if _resolves(e):
            earlier = [r for r in rows.values() if _complaint_before(r, e.customer_id, e.ts)]
            for r in earlier:
                r["outcome"] = "resolved"
            out.closings.append((row, bool(earlier)))  # the stored rows' open complaints too (see _close)
            continue
        key = tuple(row[k] for k in schema.key)
        if key in rows:
            rows[key].update({k: v for k, v in row.items() if v is not None})
        else:
            rows[key] = row
    return out


def _complaint_before(row: Row, customer_id: str, ts: datetime) -> bool:
    return bool(row["customer_id"] == customer_id and row.get("topic") == "complaint" and row["ts"] <= ts)


@dataclass(frozen=True)
class Changes:
    """What events change in one hub table: new rows, and stored rows as they become (same keys)."""

    new: pl.DataFrame
    updated: pl.DataFrame


def changes(table: str, events: HubRows, stored: pl.DataFrame) -> Changes:
    """Compare the event rows of ``table`` with ``stored`` (at least the stored rows that share their keys).

    A key already stored is not new: for :data:`UPDATABLE` tables the stored row takes the values the
    events add, and is listed as updated when that changes it; otherwise it stays as stored.
    """
    schema = table_schema(table)
    keys, names = list(schema.key), list(schema.column_names)
    ev, stored = events.frame(table), stored.select(names)
    ours = stored.select(*keys, pl.col("customer_id").alias("owner"), pl.lit(True).alias(STORED))
    joined = ev.join(ours, on=keys, how="left")
    match = pl.col(STORED).fill_null(False) & (pl.col("owner") == pl.col("customer_id"))  # another's key: new
    merged = joined.with_columns(match.alias(STORED)).drop("owner")
    if table in UPDATABLE:
        fill = stored.select(*keys, *(pl.col(c).alias(f"{c}_s") for c in names if c not in keys))
        merged = merged.join(fill, on=keys, how="left").with_columns(
            pl.when(pl.col(STORED)).then(pl.coalesce(c, f"{c}_s")).otherwise(pl.col(c)).alias(c)
            for c in names
            if c not in keys
        )
    merged = merged.select(*names, STORED)
    new = merged.filter(~pl.col(STORED)).drop(STORED)
    updated = merged.filter(pl.col(STORED)).drop(STORED) if table in UPDATABLE else new.clear()
    if table in UPDATABLE:
        updated = updated.join(stored, on=names, how="anti", nulls_equal=True)  # only rows the events change
    if table == "contacts" and events.closings:
        new, updated = _close(new, updated, stored, events.closings, keys)
    if table == "payments":
        new = new.with_columns(pl.coalesce("due_date", "paid_date").alias("due_date"))  # paid on the day it was due
    return Changes(new, updated)


def _close(
    new: pl.DataFrame,
    updated: pl.DataFrame,
    stored: pl.DataFrame,
    closings: list[tuple[Row, bool]],
    keys: list[str],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Resolve the stored open complaints that id-less resolutions close.

    A resolution is a row of its own only when its customer has no earlier complaint at all: so
    once exported (its row, or the complaints it resolved, stored) it adds nothing the next time.
    """
    taken = pl.concat([new.select(keys), updated.select(keys)])
    candidates = stored.join(taken, on=keys, how="anti").filter(pl.col("topic") == "complaint")
    closed: list[pl.DataFrame] = []
    own: list[Row] = []
    for c, had in closings:
        earlier = candidates.filter((pl.col("customer_id") == c["customer_id"]) & (pl.col("ts") <= c["ts"]))
        hit = earlier.filter(_status(pl.col("outcome")) == "open")
        if hit.height:
            closed.append(hit.with_columns(pl.lit("resolved").alias("outcome")))
            candidates = candidates.join(hit.select(keys), on=keys, how="anti")
        elif not (had or earlier.height):
            own.append(c)
    if own:
        new = pl.concat([new, pl.DataFrame(own, schema=new.schema, orient="row")])
    return new, pl.concat([updated, *closed]) if closed else updated


def _status(outcome: pl.Expr) -> pl.Expr:
    """:func:`~cvm.contracts.tables.complaint_status` of a column (other values as they are, lower case)."""
    word = outcome.str.strip_chars().str.to_lowercase()
    return word.replace(COMPLAINT_STATUS_SYNONYMS)


def merged(table: str, events: HubRows, stored: pl.DataFrame) -> pl.DataFrame:
    """``stored`` as the events make it: the updated rows in place, the new ones added (for the 360)."""
    change = changes(table, events, stored)
    keys = list(table_schema(table).key)
    kept = stored.join(change.updated.select(keys), on=keys, how="anti")
    return pl.concat([kept, change.updated, change.new], how="vertical_relaxed")
