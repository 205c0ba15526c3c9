"""The quarantine: every rejected cell, with the batch it came from and its status.

A cell is ``refused`` when its whole batch was refused (nothing of it stored), ``rejected`` when
its row was left out of a batch that committed, and ``resolved`` once a later batch loaded the
row (a corrected file with the same natural key, or the same content retried once its parent
exists). Entries written before statuses existed read as ``rejected``. All changes go through the
offline store's :class:`~cvm.store.offline.Transaction`, so they commit with their batch or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import polars as pl

from cvm.contracts import QUARANTINE, TableSchema
from cvm.ingest.validate import LINE, ROW, SOURCE, key_value
from cvm.store.offline import OfflineStore, Transaction

Status = Literal["refused", "rejected", "resolved"]
STATUSES: tuple[Status, ...] = ("refused", "rejected", "resolved")
OPEN: tuple[Status, ...] = ("refused", "rejected")


def entries(
    frame: pl.DataFrame, rejects: pl.DataFrame, schema: TableSchema, bid: str, now: datetime, status: Status
) -> pl.DataFrame:
    """Quarantine entries for the ``rejects`` (ROW, field, value, reason) of a checked ``frame``."""
    where = frame.select(
        ROW,
        LINE,
        SOURCE,
        (pl.col("customer_id").cast(pl.Utf8) if "customer_id" in frame.columns else pl.lit(None, pl.Utf8)).alias(
            "customer_id"
        ),
        key_value(schema).alias("row_key"),
    )
    return (
        rejects.join(where, on=ROW, how="left")
        .sort(ROW, "field")
        .select(
            pl.lit(bid).alias("batch_id"),
            pl.lit(schema.name).alias("table"),
            pl.col(SOURCE).alias("source"),
            pl.col(LINE).alias("line"),
            "field",
            "value",
            "reason",
            "customer_id",
            pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("ingested_at"),
            pl.lit(status).alias("status"),
            "row_key",
            pl.lit(None, pl.Utf8).alias("resolved_by"),
        )
    )


def stored(store: OfflineStore) -> pl.DataFrame:
    """Every quarantine entry, with the status of entries from before statuses filled in."""
    return store.read(QUARANTINE.name).with_columns(pl.col("status").fill_null("rejected"))


def _same_cells(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    cols = ["source", "line", "field", "value", "reason"]
    return a.height == b.height and a.select(cols).sort(cols).equals(b.select(cols).sort(cols))


def record_refusal(tx: Transaction, store: OfflineStore, new: pl.DataFrame) -> None:
    """Keep the cells of a refused batch; a batch refused again replaces its earlier refused cells."""
    bid = new.get_column("batch_id")[0] if new.height else None
    if bid is None:
        return
    current = stored(store)
    mine = (pl.col("batch_id") == bid) & (pl.col("status") == "refused")
    earlier = current.filter(mine)
    if earlier.is_empty():
        tx.append(QUARANTINE.name, new)
    elif not _same_cells(earlier, new):
        tx.replace(QUARANTINE.name, pl.concat([current.filter(~mine), new], how="vertical_relaxed"))


def _hits(current: pl.DataFrame, lines: pl.DataFrame | None, name: str) -> pl.DataFrame:
    """``current`` with a boolean column ``name``: whether its ``(batch_id, source, line)`` is in ``lines``."""
    if lines is None or lines.is_empty():
        return current.with_columns(pl.lit(False).alias(name))
    hits = lines.select("batch_id", "source", "line").unique().with_columns(pl.lit(True).alias(name))
    return current.join(hits, on=["batch_id", "source", "line"], how="left").with_columns(pl.col(name).fill_null(False))


def settle(
    tx: Transaction,
    store: OfflineStore,
    schema: TableSchema,
    bid: str,
    loaded: pl.DataFrame,
    new: pl.DataFrame,
    retried: pl.DataFrame | None = None,
) -> int:
    """Store the entries ``new`` of the committed batch ``bid`` and resolve the open entries it loaded.

    An open entry of ``schema``'s table is resolved when ``loaded`` (the rows the batch stored) has its
    natural key, or, for a retry, when its ``(batch_id, source, line)`` is in ``retried``. Refused
    entries of this same batch id (the same content, refused before) are replaced by ``new`` where
    their row is still rejected, and resolved where it loaded. Returns how many rows were resolved.
    """
    current = stored(store)
    loaded_keys = loaded.select(key_value(schema)).to_series().drop_nulls().unique().implode()
    marked = _hits(_hits(current, retried, "__retried__"), new, "__still__")
    mine = (pl.col("table") == schema.name) & pl.col("status").is_in(list(OPEN))
    superseded = mine & (pl.col("batch_id") == bid) & (pl.col("status") == "refused")
    resolve = mine & (
        ((pl.col("batch_id") != bid) & pl.col("row_key").is_in(loaded_keys))
        | pl.col("__retried__")
        | (superseded & ~pl.col("__still__"))
    )
    drop = superseded & pl.col("__still__")
    count = int(marked.filter(resolve).select(pl.struct("batch_id", "source", "line").n_unique()).item())
    if count == 0 and marked.filter(drop).is_empty():
        tx.append(QUARANTINE.name, new)
        return 0
    kept = marked.filter(~drop).with_columns(
        pl.when(resolve).then(pl.lit("resolved")).otherwise(pl.col("status")).alias("status"),
        pl.when(resolve).then(pl.lit(bid)).otherwise(pl.col("resolved_by")).alias("resolved_by"),
    )
    tx.replace(QUARANTINE.name, pl.concat([kept.select(current.columns), new], how="vertical_relaxed"))
    return count
