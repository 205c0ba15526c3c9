"""Idempotent, atomic ingestion batches.

A batch is identified by its content: the same table, options and bytes give
the same ``batch_id``, and a batch already committed is a no-op. Accepted rows,
quarantined rows and the batch record commit together in one offline-store
transaction, or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from cvm.contracts import QUARANTINE, TableSchema, table_schema
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


@dataclass(frozen=True)
class BatchResult:
    """What one ingestion did."""

    table: str
    read: int
    accepted: int
    rejected: int
    batch_id: str
    status: str  # committed | unchanged | refused
    reject_ratio: float = 0.0
    max_reject_ratio: float = 0.05
    sources: tuple[str, ...] = ()
    ignored_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
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


def _quarantine_rows(checked: Checked, rejects: pl.DataFrame, table: str, bid: str, now: datetime) -> pl.DataFrame:
    cols = [ROW, LINE, SOURCE] + (["customer_id"] if "customer_id" in checked.frame.columns else [])
    where = checked.frame.select(cols)
    if "customer_id" not in where.columns:
        where = where.with_columns(pl.lit(None, dtype=pl.Utf8).alias("customer_id"))
    return (
        rejects.join(where, on=ROW, how="left")
        .sort(ROW, "field")
        .select(
            pl.lit(bid).alias("batch_id"),
            pl.lit(table).alias("table"),
            pl.col(SOURCE).alias("source"),
            pl.col(LINE).alias("line"),
            "field",
            "value",
            "reason",
            pl.col("customer_id").cast(pl.Utf8),
            pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("ingested_at"),
        )
    )


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
    valid = checked.frame.join(checked.rejects.select(ROW).unique(), on=ROW, how="anti")
    rejects = pl.concat([checked.rejects, *_relational_rejects(valid, schema, store, upsert)], how="vertical_relaxed")
    bad_rows = rejects.get_column(ROW).unique()
    read, rejected = checked.frame.height, bad_rows.len()
    ratio = rejected / read if read else 0.0
    result = BatchResult(
        table=schema.name,
        read=read,
        accepted=read - rejected,
        rejected=rejected,
        batch_id=bid,
        status="committed" if ratio <= max_reject_ratio else "refused",
        reject_ratio=ratio,
        max_reject_ratio=max_reject_ratio,
        sources=tuple(s.source for s in sources),
        ignored_columns=checked.ignored_columns,
        notes=checked.notes,
        rejects=_quarantine_rows(checked, rejects, schema.name, bid, rules.now),
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
    ``max_reject_ratio``. A batch with the same id as a committed one is a no-op.
    """
    schema = table_schema(table)
    bid = batch_id(table, digests, {"upsert": upsert, **(options or {})})
    with store.transaction() as tx:
        done = tx.manifest["batches"].get(bid)
        if done is not None:
            fields = {k: done[k] for k in ("table", "read", "accepted", "rejected", "batch_id")}
            return BatchResult(**fields, status="unchanged", sources=tuple(s.source for s in sources))
        verdict = _judge(store, schema, sources, rules, bid, upsert, max_reject_ratio)
        if not verdict.result.ok:
            return verdict.result
        if upsert:
            tx.upsert(table, verdict.accepted)
        else:
            tx.append(table, verdict.accepted)
        assert verdict.result.rejects is not None
        tx.append(QUARANTINE.name, verdict.result.rejects)
        tx.record_batch(bid, {**verdict.result.record(), "committed_at": rules.now.isoformat()})
    return verdict.result
