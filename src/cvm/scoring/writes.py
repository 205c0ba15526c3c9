"""Writing a stage's scores into one ``as_of`` partition of ``scores``, chunk by chunk, in one transaction.

``scores`` is partitioned by ``as_of``. A stage (value, life-cycle, early warning) owns some score names;
re-scoring a date replaces that date's rows of those names and keeps every other row of the date (copied
through in record batches, never read whole) and every other date untouched. The rows arrive as an iterator
of frames (one per chunk of customers), each appended as parts of the partition, so memory holds one chunk.
Everything commits at once: a crash or an error part way leaves the previous partition as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

import polars as pl
import pyarrow as pa

from cvm.contracts.tables import SCORES
from cvm.store import OfflineStore
from cvm.store.schema import arrow_schema

COPY_BATCH_ROWS = 500_000  # rows per record batch when copying the kept rows of a partition


@dataclass(frozen=True)
class Owned:
    """Score names a stage writes: exact ``names`` and names starting with one of ``prefixes``."""

    names: tuple[str, ...]
    prefixes: tuple[str, ...] = ()


def _kept(store: OfflineStore, as_of: date, owned: Owned) -> Iterator[pl.DataFrame]:
    """The stored rows of ``as_of`` whose score the stage does not own, in record batches."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    files = [str(p) for p in store.files("scores", as_of)]
    if not files:
        return
    score = pc.field("score")
    mine = pc.is_in(score, pa.array(owned.names, pa.string()))
    for prefix in owned.prefixes:
        mine = mine | pc.starts_with(score, prefix)
    data = ds.dataset(files, schema=arrow_schema(SCORES), format="parquet")
    for batch in data.to_batches(filter=~mine, batch_size=COPY_BATCH_ROWS):
        if batch.num_rows:
            yield pl.DataFrame(pl.from_arrow(batch))


def replace_scores(store: OfflineStore, as_of: date, owned: Owned, parts: Iterable[pl.DataFrame]) -> int:
    """Replace the ``owned`` scores of the ``as_of`` partition by ``parts``; returns the rows written.

    Every part must hold rows of ``as_of`` only.
    """
    written = 0
    with store.transaction() as tx:
        kept = _kept(store, as_of, owned)  # reads the committed files, which stay until the commit
        tx.drop_partition("scores", as_of)
        for frame in kept:
            tx.append("scores", frame)
        for frame in parts:
            if frame.height:
                tx.append("scores", frame)
                written += frame.height
    return written
