"""Idempotent, atomic ingestion batches.

A batch is identified by its content: the same table, options and bytes give
the same ``batch_id``, and a batch already committed is a no-op. Accepted rows,
quarantined rows and the batch record commit together in one offline-store
transaction, or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from cvm.contracts import TableSchema, table_schema
from cvm.ingest import quarantine
from cvm.ingest.readers import RawTable
from cvm.ingest.validate import (
    LINE,
    ROW,
    SOURCE,
    Checked,
    Rules,
    check,
    duplicate_rejects,
    stored_key_rejects,
    unknown_customer_rejects,
)
from cvm.store import OfflineStore
from cvm.store.offline import Transaction

REJECT_CELL = ("source", "line", "field", "value", "reason")


@dataclass(frozen=True)
class BatchResult:
    """What one ingestion did."""

    table: str
    read: int
    accepted: int
    rejected: int
    batch_id: str
    status: str  # committed | unchanged | retried | refused
    reject_ratio: float = 0.0
    max_reject_ratio: float = 0.05
    sources: tuple[str, ...] = ()
    ignored_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    reason: str = ""  # why a refused batch was refused
    message: str = ""  # what a retry of rejected rows did
    retry_of: str | None = None  # the batch whose rejected rows a retried batch loaded
    rejects: pl.DataFrame | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.status != "refused"

    def summary(self) -> dict[str, Any]:
        """The five figures of the ``--json`` contract."""
        return {
            "table": self.table,
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "batch_id": self.batch_id,
        }

    def explain(self, limit: int = 100) -> dict[str, Any]:
        """Status, sources, why (refusal reason, retry message) and the first ``limit`` rejected cells."""
        cells = self.rejects if self.rejects is not None else None
        shown = [] if cells is None else cells.head(limit).select(REJECT_CELL).to_dicts()
        return {
            "status": self.status,
            "sources": list(self.sources),
            "reason": self.reason or None,
            "message": self.message or None,
            "retry_of": self.retry_of,
            "rejected_cells": 0 if cells is None else cells.height,
            "rejects": shown,
        }

    def record(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("rejects")
        return data


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def frame_digest(frame: pl.DataFrame) -> str:
    """A content hash of a frame, stable across library versions (it hashes the frame's CSV form)."""
    h = hashlib.sha256()
    h.update(repr([(name, str(dtype)) for name, dtype in frame.schema.items()]).encode())
    h.update(frame.write_csv().encode())
    return h.hexdigest()


def batch_id(table: str, content: Sequence[str], options: dict[str, Any]) -> str:
    """The id of a batch: its table, options and content digests."""
    h = hashlib.sha256(table.encode())
    h.update(repr(sorted(options.items())).encode())
    for digest in content:
        h.update(digest.encode())
    return "b_" + h.hexdigest()[:20]


def _merge_checked(parts: Sequence[Checked]) -> Checked:
    offset = 0
    frames, rejects = [], []
    for part in parts:
        frames.append(part.frame.with_columns(pl.col(ROW) + offset))
        rejects.append(part.rejects.with_columns(pl.col(ROW) + offset))
        offset += part.frame.height
    return Checked(
        pl.concat(frames, how="vertical_relaxed"),
        pl.concat(rejects, how="vertical_relaxed"),
        tuple(dict.fromkeys(c for p in parts for c in p.ignored_columns)),
        tuple(dict.fromkeys(n for p in parts for n in p.notes)),
    )


def _relational_rejects(
    frame: pl.DataFrame, schema: TableSchema, store: OfflineStore, upsert: bool
) -> list[pl.DataFrame]:
    out = [duplicate_rejects(frame, schema)]
    if not upsert:
        out.append(stored_key_rejects(frame, store.read(schema.name, list(schema.key)), schema))
    if schema.customer_fk:
        out.append(unknown_customer_rejects(frame, store.read("customers", ["customer_id"])["customer_id"]))
    return out


def _all_rejects(
    frame: pl.DataFrame, row_rejects: pl.DataFrame, schema: TableSchema, store: OfflineStore, upsert: bool
) -> pl.DataFrame:
    """The row-level rejects of ``frame`` plus the relational ones of its otherwise valid rows."""
    valid = frame.join(row_rejects.select(ROW).unique(), on=ROW, how="anti")
    return pl.concat([row_rejects, *_relational_rejects(valid, schema, store, upsert)], how="vertical_relaxed")


@dataclass(frozen=True)
class _Verdict:
    """A validated batch before it is stored."""

    result: BatchResult
    accepted: pl.DataFrame


def _judge(
    store: OfflineStore,
    schema: TableSchema,
    sources: Sequence[RawTable],
    rules: Rules,
    bid: str,
    upsert: bool,
    max_reject_ratio: float,
) -> _Verdict:
    checked = _merge_checked([check(s, schema, rules) for s in sources])
    rejects = _all_rejects(checked.frame, checked.rejects, schema, store, upsert)
    bad_rows = rejects.get_column(ROW).unique()
    read, rejected = checked.frame.height, bad_rows.len()
    ratio = rejected / read if read else 0.0
    refused = ratio > max_reject_ratio
    result = BatchResult(
        table=schema.name,
        read=read,
        accepted=read - rejected,
        rejected=rejected,
        batch_id=bid,
        status="refused" if refused else "committed",
        reject_ratio=ratio,
        max_reject_ratio=max_reject_ratio,
        sources=tuple(s.source for s in sources),
        ignored_columns=checked.ignored_columns,
        notes=checked.notes,
        reason=f"{ratio:.1%} of rows rejected, above the limit of {max_reject_ratio:.1%}" if refused else "",
        rejects=quarantine.entries(
            checked.frame, rejects, schema, bid, rules.now, "refused" if refused else "rejected"
        ),
    )
    accepted = checked.frame.filter(~pl.col(ROW).is_in(bad_rows.implode())).select(schema.column_names)
    return _Verdict(result, accepted)


def ingest_batch(
    store: OfflineStore,
    table: str,
    sources: Sequence[RawTable],
    digests: Sequence[str],
    rules: Rules,
    *,
    upsert: bool = False,
    max_reject_ratio: float = 0.05,
    options: dict[str, Any] | None = None,
) -> BatchResult:
    """Validate ``sources`` as one batch of ``table`` and commit it atomically.

    The batch is refused whole, storing nothing, when its rejected share exceeds
    ``max_reject_ratio``; its cells are kept in the quarantine as ``refused``. A batch with
    the same id as a committed one stores nothing new except its rejected rows that pass now
    (:func:`retry_rejected`).
    """
    result = _ingest(store, table, sources, digests, rules, upsert, max_reject_ratio, options, retry_only=False)
    assert result is not None
    return result


def retry_batch(
    store: OfflineStore,
    table: str,
    sources: Sequence[RawTable],
    digests: Sequence[str],
    rules: Rules,
    options: dict[str, Any] | None = None,
) -> BatchResult | None:
    """Retry the rejected rows of content already committed; ``None`` when nothing loads (or it never committed)."""
    result = _ingest(store, table, sources, digests, rules, False, 1.0, options, retry_only=True)
    return result if result is not None and result.status == "retried" else None


def _ingest(
    store: OfflineStore,
    table: str,
    sources: Sequence[RawTable],
    digests: Sequence[str],
    rules: Rules,
    upsert: bool,
    max_reject_ratio: float,
    options: dict[str, Any] | None,
    *,
    retry_only: bool,
) -> BatchResult | None:
    schema = table_schema(table)
    bid = batch_id(table, digests, {"upsert": upsert, **(options or {})})
    with store.transaction() as tx:
        done = tx.manifest["batches"].get(bid)
        if done is None and retry_only:
            return None
        if done is not None:
            fields = {k: done[k] for k in ("table", "read", "accepted", "rejected", "batch_id")}
            unchanged = BatchResult(**fields, status="unchanged", sources=tuple(s.source for s in sources))
            return retry_rejected(tx, store, schema, sources, rules, unchanged, done)
        verdict = _judge(store, schema, sources, rules, bid, upsert, max_reject_ratio)
        entries = verdict.result.rejects
        assert entries is not None
        if not verdict.result.ok:
            quarantine.record_refusal(tx, store, entries)
            return verdict.result
        if upsert:
            tx.upsert(table, verdict.accepted)
        else:
            tx.append(table, verdict.accepted)
        quarantine.settle(tx, store, schema, bid, verdict.accepted, entries)
        tx.record_batch(bid, {**verdict.result.record(), "committed_at": rules.now.isoformat()})
    return verdict.result


def _retry_message(loaded: int, still: int, reasons: pl.Series, bid: str) -> str:
    """``unchanged; 3 rows rejected earlier now load: their customers exist`` and what is left."""
    one = loaded == 1
    customers = reasons.len() and reasons.str.starts_with("unknown customer").all()
    if customers:
        why = "its customer exists" if one else "their customers exist"
    else:
        why = "it passes the checks now" if one else "they pass the checks now"
    rows = "1 row rejected earlier now loads" if one else f"{loaded} rows rejected earlier now load"
    text = f"unchanged; {rows}: {why}" if loaded else "unchanged"
    if still:
        text += f"; {still} still rejected (`cvm quarantine --batch {bid}`)"
    return text


def retry_rejected(
    tx: Transaction,
    store: OfflineStore,
    schema: TableSchema,
    sources: Sequence[RawTable],
    rules: Rules,
    unchanged: BatchResult,
    done: dict[str, Any],
) -> BatchResult:
    """Content already committed: load its rejected rows that pass now, as a batch of their own.

    The rows still open in the quarantine for batch ``done`` are checked again against today's store
    (their customer may exist now). Those that pass are appended (never replacing a stored row) in a
    new batch whose id derives from the original's and the rows retried; their entries become
    ``resolved``. Returns ``unchanged`` (with a message when rows stay rejected) if none pass.
    """
    bid = unchanged.batch_id
    waiting = quarantine.stored(store).filter(
        (pl.col("batch_id") == bid) & (pl.col("status") == "rejected") & (pl.col("table") == schema.name)
    )
    first_sources = list(done.get("sources") or [])
    if waiting.is_empty() or len(first_sources) != len(sources):
        return unchanged
    renamed = {old: raw.source for old, raw in zip(first_sources, sources, strict=True)}
    waiting = waiting.with_columns(pl.col("source").replace_strict(renamed, default=None).alias("__now__"))
    checked = _merge_checked([check(s, schema, rules) for s in sources])
    wanted = waiting.select(pl.col("__now__").alias(SOURCE), pl.col("line").alias(LINE)).unique()
    frame = checked.frame.join(wanted, on=[SOURCE, LINE], how="semi")
    rejects = _all_rejects(frame, checked.rejects.join(frame.select(ROW), on=ROW, how="semi"), schema, store, False)
    loaded = frame.join(rejects.select(ROW).unique(), on=ROW, how="anti")
    still = frame.height - loaded.height
    if loaded.is_empty():
        return replace(unchanged, message=_retry_message(0, still, waiting["reason"], bid))
    lines = loaded.select(pl.col(SOURCE).alias("__now__"), pl.col(LINE).alias("line"))
    retried = waiting.join(lines, on=["__now__", "line"], how="semi")
    retry_id = batch_id(schema.name, [bid, *map(str, sorted(retried["line"].unique()))], {"retry": True})
    result = BatchResult(
        table=schema.name,
        read=frame.height,
        accepted=loaded.height,
        rejected=still,
        batch_id=retry_id,
        status="retried",
        sources=unchanged.sources,
        message=_retry_message(loaded.height, still, retried["reason"], bid),
        retry_of=bid,
        rejects=waiting.head(0).drop("__now__"),
    )
    tx.append(schema.name, loaded.select(schema.column_names))
    quarantine.settle(tx, store, schema, retry_id, loaded, waiting.head(0).drop("__now__"), retried.drop("__now__"))
    tx.record_batch(retry_id, {**result.record(), "committed_at": rules.now.isoformat()})
    return result


def unreadable(table: str, source: str, error: Exception) -> BatchResult:
    """A source refused before any row was read (not found, malformed, missing columns): nothing stored."""
    reason = str(error).removeprefix(f"{source}: ")  # the source is named beside the reason
    return BatchResult(table, 0, 0, 0, "", "refused", sources=(source,), reason=reason)
