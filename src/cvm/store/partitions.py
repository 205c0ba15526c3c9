"""Replacing a stage's rows of one partition, chunk by chunk, in one transaction.

A partitioned table (``scores`` by ``as_of``) is written by several stages: each owns some values of a
column (value, life-cycle and early-warning scores own names of ``score``). Re-running a stage on a date
replaces that partition's rows it owns and keeps the partition's other rows (copied through in record
batches, never read whole) and every other partition untouched. The new rows arrive as an iterator of
frames (one per chunk of customers), each appended as parts of the partition, so memory holds one chunk.
Everything commits at once: a crash or an error part way leaves the previous partition as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

import polars as pl
import pyarrow as pa

from cvm.contracts import table_schema
from cvm.store.offline import OfflineStore
from cvm.store.schema import arrow_schema

COPY_BATCH_ROWS = 500_000  # rows per record batch when copying the kept rows of a partition


@dataclass(frozen=True)
class Owned:
    """The rows a stage writes: ``column`` equal to one of ``names`` or starting with one of ``prefixes``."""

    names: tuple[str, ...]
    prefixes: tuple[str, ...] = ()
    column: str = "score"


def _kept(store: OfflineStore, table: str, value: date, owned: Owned) -> Iterator[pl.DataFrame]:
    """The stored rows of partition ``value`` that the stage does not own, in record batches."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    filesystem, files = store.arrow_files(table, value)
    if not files:
        return
    score = pc.field(owned.column)
    mine = pc.is_in(score, pa.array(owned.names, pa.string()))
    for prefix in owned.prefixes:
        mine = mine | pc.starts_with(score, prefix)
    data = ds.dataset(files, schema=arrow_schema(table_schema(table)), format="parquet", filesystem=filesystem)
    # no read-ahead: the copy holds one batch, however many parts the partition has
    for batch in data.to_batches(filter=~mine, batch_size=COPY_BATCH_ROWS, batch_readahead=0, fragment_readahead=0):
        if batch.num_rows:
            yield pl.DataFrame(pl.from_arrow(batch))


def replace_rows(store: OfflineStore, table: str, value: date, owned: Owned, parts: Iterable[pl.DataFrame]) -> int:
    """Replace the ``owned`` rows of partition ``value`` of ``table`` by ``parts``; returns the rows written.

    Every part must hold rows of that partition only; an error while ``parts`` are made commits nothing.
    """
    written = 0
    with store.transaction() as tx:
        kept = _kept(store, table, value, owned)  # reads the committed files, which stay until the commit
        tx.drop_partition(table, value)
        for frame in kept:
            tx.append(table, frame)
        for frame in parts:
            if frame.height:
                tx.append(table, frame)
                written += frame.height
            pa.default_memory_pool().release_unused()  # give a written chunk's buffers back before the next
    return written


def replace_scores(store: OfflineStore, as_of: date, owned: Owned, parts: Iterable[pl.DataFrame]) -> int:
    """:func:`replace_rows` of the ``scores`` table's ``as_of`` partition."""
    return replace_rows(store, "scores", as_of, owned, parts)
