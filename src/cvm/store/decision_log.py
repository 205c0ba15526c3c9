"""The decision log in both stores: append online, erase per person, export to Parquet, read back.

- :func:`append` writes :class:`~cvm.contracts.decisionlog.DecisionRecord` rows into the online
  ``decision_log`` inside the caller's transaction (the one that writes the actions they lead to). A
  record whose ``decision_id`` is already logged is left alone, so a retried batch logs nothing twice.
  No function here updates a row; a trigger refuses ``UPDATE`` (migration 0007).
- :func:`erase` deletes one customer's rows (called by :func:`cvm.events.erase.erase_online`).
- :func:`export` copies the rows the offline table ``decision_log`` lacks into it, as one atomic
  Parquet part. Incremental and crash-safe without marking online rows: it reads rows logged since
  the newest exported ``logged_at`` minus :data:`OVERLAP` (a transaction that committed late, with an
  earlier ``logged_at``, is still caught) and keeps those whose ``decision_id`` is not exported yet.
  A crash before the offline commit exports them the next time; after it, nothing twice.
- :func:`read` returns the offline log as a Polars frame, :func:`records` as records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa

from cvm.contracts.decisionlog import DecisionRecord
from cvm.contracts.tables import DECISION_LOG
from cvm.errors import BadValueError
from cvm.store import bulk
from cvm.store.offline import OfflineStore
from cvm.store.online import OnlineStore
from cvm.store.tables import decision_log

TABLE = "decision_log"
OVERLAP = timedelta(hours=1)
"""How far before the newest exported row an export looks again (longer than any write transaction)."""
JSON_COLUMNS = ("candidates", "model_versions", "context")


def utc(at: datetime) -> datetime:
    """``at`` as an aware UTC time (naive is read as UTC)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def row_of(rec: DecisionRecord, logged_at: datetime) -> dict[str, Any]:
    """The online row of a record."""
    data = rec.to_dict()
    data["decided_at"] = utc(rec.decided_at)
    data["logged_at"] = logged_at
    return data


def append(conn: sa.Connection, records: Iterable[DecisionRecord | None], now: datetime) -> int:
    """Log the records (``None`` skipped) in ``conn``'s transaction; returns how many were given."""
    rows = [row_of(r, now) for r in records if r is not None]
    for start in range(0, len(rows), 1000):
        bulk.insert(conn, decision_log, rows[start : start + 1000], skip_conflicts_on="decision_id")
    return len(rows)


def erase(conn: sa.Connection, customer_id: str) -> int:
    """Delete every logged decision of ``customer_id`` (the only delete of the table)."""
    return int(conn.execute(decision_log.delete().where(decision_log.c.customer_id == customer_id)).rowcount)


def _record(row: sa.Row[Any]) -> DecisionRecord:
    data = dict(row._mapping)
    data.pop("id", None)
    data.pop("logged_at", None)
    data["decided_at"] = utc(data["decided_at"])
    return DecisionRecord.from_dict(data)


def online_records(conn: sa.Connection, customer_id: str | None = None) -> list[DecisionRecord]:
    """The logged records in the online store (of one customer, or all), in logging order."""
    query = sa.select(decision_log).order_by(decision_log.c.id)
    if customer_id is not None:
        query = query.where(decision_log.c.customer_id == customer_id)
    return [_record(r) for r in conn.execute(query)]


def _frame(rows: Sequence[sa.Row[Any]]) -> pl.DataFrame:
    return offline_frame([r._mapping for r in rows])


def offline_frame(rows: Sequence[Mapping[Any, Any]]) -> pl.DataFrame:
    """Rows of the offline table from online rows (:func:`row_of`): JSON columns as text, times in UTC."""
    out: dict[str, list[Any]] = {c.name: [] for c in DECISION_LOG.columns}
    for m in rows:
        for c in out:
            v = m[c]
            if c in JSON_COLUMNS:
                v = json.dumps(v, sort_keys=True, separators=(",", ":"))
            elif c in ("decided_at", "logged_at"):
                v = utc(v)
            out[c].append(v)
    return pl.DataFrame(out)


def export(offline: OfflineStore, online: OnlineStore) -> int:
    """Append the rows the offline ``decision_log`` lacks; returns how many were exported."""
    stored = offline.scan(TABLE)
    newest = stored.select(pl.col("logged_at").max()).collect().item()
    c = decision_log.c
    query = sa.select(decision_log).order_by(c.logged_at, c.id)
    if newest is not None:
        query = query.where(c.logged_at >= utc(newest) - OVERLAP)
    with online.read() as conn:
        rows = list(conn.execute(query))
    if not rows:
        return 0
    since = utc(newest) - OVERLAP if newest is not None else None
    known = set()
    if since is not None:
        recent = stored.filter(pl.col("logged_at") >= since).select("decision_id").collect()
        known = set(recent["decision_id"].to_list())
    fresh = [r for r in rows if r.decision_id not in known]
    if not fresh:
        return 0
    with offline.transaction() as tx:
        tx.append(TABLE, _frame(fresh))
    return len(fresh)


def read(offline: OfflineStore) -> pl.DataFrame:
    """The offline decision log as a Polars frame (JSON columns as text), oldest decision first."""
    return offline.read(TABLE).sort("decided_at", "decision_id")


def records(offline: OfflineStore, problems: list[str] | None = None) -> list[DecisionRecord]:
    """The offline decision log as :class:`DecisionRecord` objects, oldest decision first.

    A row that cannot be read raises :class:`~cvm.errors.BadValueError` naming its row and field, or,
    with ``problems``, is left out and named there (file, row, why) so a batch job can go on.
    """
    out = []
    for i, row in enumerate(read(offline).iter_rows(named=True)):
        try:
            out.append(_decode(row))
        except BadValueError as exc:
            if problems is None:
                raise BadValueError(f"{TABLE} row {i + 1} ({row.get('decision_id')!r}): {exc}") from None
            problems.append(f"{TABLE} row {i + 1} ({row.get('decision_id')!r}): {exc}")
    return out


def _decode(row: dict[str, Any]) -> DecisionRecord:
    data = {k: v for k, v in row.items() if k != "logged_at"}
    field = "decided_at"
    try:
        data[field] = utc(data[field])
        for field in JSON_COLUMNS:
            data[field] = json.loads(data[field]) if data[field] else ({} if field != "candidates" else [])
        field = "candidates"
        return DecisionRecord.from_dict(data)
    except (TypeError, ValueError, KeyError) as exc:
        raise BadValueError(f"field {field!r}: {exc}") from None
