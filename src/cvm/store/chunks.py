"""Chunks of customers, so that a stage's memory stays bounded as the customer base grows.

The customers are cut into contiguous ``customer_id`` ranges of at most ``scoring.chunk_customers``
customers (:func:`customer_ranges`). Each chunk reads only its customers' rows: Polars scans get a
range filter (:func:`in_range`), DuckDB queries see views of the hub tables restricted to the range
(:func:`chunk_connection`), so the feature SQL runs unchanged on a chunk. Every per-customer result
depends only on that customer's rows; what ranks or fits on the whole base (model fits, quantile
grades) is computed from per-chunk arrays first, so one chunk or many give the same rows
(:mod:`cvm.scoring.value`, :mod:`cvm.scoring.lifecycle_chunks`, :mod:`cvm.risk.early_warning`).

Examples
--------
>>> in_range((None, None)) is None
True
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import TypeAlias

import duckdb
import polars as pl

from cvm.contracts import TABLES, table_schema
from cvm.store.offline import OfflineStore
from cvm.store.sweep import owned

Range: TypeAlias = tuple[str | None, str | None]  # [low, high): None is open
ALL: Range = (None, None)


def customer_ranges(store: OfflineStore, size: int) -> list[Range]:
    """Contiguous ``customer_id`` ranges of at most ``size`` customers, in id order (one open range if
    the base fits in one chunk)."""
    con = store.connect()
    try:
        total = int(con.execute("SELECT count(*) FROM customers").fetchall()[0][0])
        if total <= size:
            return [ALL]
        starts = con.execute(
            "SELECT customer_id FROM (SELECT customer_id, row_number() OVER (ORDER BY customer_id) - 1 AS i "
            "FROM customers) WHERE i > 0 AND i % ? = 0 ORDER BY customer_id",
            [size],
        ).fetchall()
    finally:
        con.close()
    edges: list[str | None] = [None, *(str(r[0]) for r in starts), None]
    return list(pairwise(edges))


def in_range(chunk: Range, column: str = "customer_id") -> pl.Expr | None:
    """A Polars filter keeping the rows of the chunk's customers (None: every row)."""
    low, high = chunk
    parts = [e for e in (low and pl.col(column) >= low, high and pl.col(column) < high) if e is not None]
    return pl.all_horizontal(parts) if parts else None


def scan(store: OfflineStore, table: str, chunk: Range, partition: object | None = None) -> pl.LazyFrame:
    """``store.scan(table, partition)`` restricted to the chunk's customers."""
    frame = store.scan(table, partition)
    keep = in_range(chunk)
    return frame if keep is None else frame.filter(keep)


@contextmanager
def chunk_connection(store: OfflineStore, chunk: Range) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection whose hub views hold only the chunk's customers (the bounds are bound values)."""
    con = store.connect()
    try:
        if chunk != ALL:
            con.execute("SET VARIABLE chunk_low = ?", [chunk[0]])
            con.execute("SET VARIABLE chunk_high = ?", [chunk[1]])
            con.execute("CREATE SCHEMA chunk")
            keep = (
                "(getvariable('chunk_low') IS NULL OR customer_id >= getvariable('chunk_low')) AND "
                "(getvariable('chunk_high') IS NULL OR customer_id < getvariable('chunk_high'))"
            )
            for name in TABLES:  # table names come from the contracts, never from input
                if "customer_id" in table_schema(name).column_names:
                    con.execute(f"CREATE VIEW chunk.{name} AS SELECT * FROM main.{name} WHERE {keep}")
            con.execute("SET search_path = 'chunk,main'")
        yield con
    finally:
        con.close()


@contextmanager
def staging_folder(store: OfflineStore | None) -> Iterator[Path]:
    """A private folder for a run's staged chunks (beside the store's tables, else a temporary one), removed
    afterwards."""
    root = store.scratch if store is not None else None
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    with owned(Path(tempfile.mkdtemp(prefix=".staging-", dir=root))) as folder:  # swept if this run is killed
        yield folder
