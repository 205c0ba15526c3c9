"""A reader thread that reads a partitioned table while a writer overwrites one of its partitions.

For the store tests on a local folder and on S3 (``tests/unit/test_partition_readers.py``,
``tests/integration/test_object_store.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date

from cvm.store import OfflineStore

#: What one read saw: the partition's rows, its distinct values (one per version) and the whole table's rows.
Seen = tuple[int, tuple[float, ...], int]


def read_while_overwriting(
    store: OfflineStore, partition: date, overwrite: Callable[[int], None], versions: int, reads: int, most: int
) -> list[Seen]:
    """Overwrite ``partition`` with versions 1, 2, ... (at least ``versions``, and on until the reader has read
    more than ``reads`` times, however busy the machine, at most ``most``) while a thread reads ``scores``, through
    Polars and through DuckDB over the manifest it opened with. Returns what the reader saw; its errors fail."""
    seen: list[Seen] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                part = store.read("scores", partition=partition)
                whole = store.read("scores")
                seen.append((part.height, tuple(sorted(set(part["value"].to_list()))), whole.height))
                with store.connect() as con:
                    rows = con.execute("SELECT count(*), list(DISTINCT value) FROM scores WHERE as_of = ?", [partition])
                    height, values = rows.fetchall()[0]
                    total = con.execute("SELECT count(*) FROM scores").fetchall()[0][0]
                seen.append((height, tuple(sorted(values)), total))
        except BaseException as exc:  # reported below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        version = 1
        while version < versions or (len(seen) <= reads and version < most):
            overwrite(version)
            version += 1
    finally:
        done.set()
        reader.join()
    assert errors == []
    return seen
