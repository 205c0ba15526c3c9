"""The offline backend seam: the same queries and per-batch functions run on DuckDB or on Spark.

Both backends read and write the same committed Parquet files (:class:`~cvm.store.offline.OfflineStore`
and its manifest); they differ in where the work runs. A stage hands the backend

- a query, written once in DuckDB's SQL dialect (Spark runs it transpiled by sqlglot), and
- a pure function from an Arrow record batch to an Arrow table (the per-partition work: predict, grade),

and the backend streams the query's result through the function into a table of the offline store
(:meth:`OfflineBackend.map_into`): in record batches on one machine, with ``mapInArrow`` on every
partition of a Spark cluster. No backend pulls a whole table into one process.

Each backend declares its :class:`Capability` set; an operation it cannot do raises
:class:`UnsupportedOperationError` naming both, and nothing falls back silently to another backend.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import polars as pl

from cvm.errors import CvmError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from cvm.config import Settings
    from cvm.store.offline import OfflineStore, Transaction

#: A per-batch function: one Arrow record batch of the query's rows in, the rows to store out.
BatchFn = Callable[["pa.RecordBatch"], "pa.Table"]

#: Rows per record batch that the DuckDB backend hands a :data:`BatchFn`.
BATCH_ROWS = 250_000

#: Customers per chunk of a per-customer query on DuckDB (``scoring.chunk_customers``).
CHUNK_CUSTOMERS = 500_000


class Capability(StrEnum):
    """What an offline backend can do."""

    SQL = "sql"  # run a query written in DuckDB's dialect
    TRANSACTIONS = "transactions"  # commit a set of writes atomically (the manifest)
    PARTITION_OVERWRITE = "partition_overwrite"  # replace one as_of partition, atomically
    STREAM = "stream"  # run a per-batch function over a query's result with bounded driver memory
    MAP_PARTITIONS = "map_partitions"  # run a per-batch function on a cluster's workers


class UnsupportedOperationError(CvmError):
    """An offline backend was asked for an operation it cannot do."""


class OfflineBackend(Protocol):
    """What every offline backend offers the stages."""

    name: str
    capabilities: frozenset[Capability]
    store: OfflineStore

    def require(self, capability: Capability, operation: str) -> None: ...

    def query(self, sql: str) -> pa.Table: ...

    def map_into(
        self,
        tx: Transaction,
        table: str,
        sql: str,
        fn: BatchFn,
        partition: object | None = None,
        per_customer: bool = False,
    ) -> None: ...


def require(backend: OfflineBackend, capability: Capability, operation: str) -> None:
    """Raise :class:`UnsupportedOperationError` unless ``backend`` can do ``capability``."""
    if capability not in backend.capabilities:
        raise UnsupportedOperationError(
            f"the {backend.name} offline backend cannot {operation}: it has no {capability.value} capability "
            f"(it has: {', '.join(sorted(c.value for c in backend.capabilities))})"
        )


class DuckDBBackend:
    """The embedded default: DuckDB over the Parquet files, in this process."""

    name = "duckdb"
    capabilities = frozenset(
        {Capability.SQL, Capability.TRANSACTIONS, Capability.PARTITION_OVERWRITE, Capability.STREAM}
    )

    def __init__(
        self, store: OfflineStore, batch_rows: int = BATCH_ROWS, chunk_customers: int = CHUNK_CUSTOMERS
    ) -> None:
        self.store = store
        self.batch_rows = batch_rows
        self.chunk_customers = chunk_customers
        self._views: tuple[int, duckdb.DuckDBPyConnection] | None = None
        self._lock = threading.Lock()

    def require(self, capability: Capability, operation: str) -> None:
        require(self, capability, operation)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """A cursor over the committed tables, in UTC (timestamps fall on their UTC dates, as on Spark).

        The views over the manifest's files are built once per committed version of the store (about 50 ms
        for every table), and each query gets its own cursor on them, so threads do not share one.
        """
        version = int(self.store.manifest()["version"])
        with self._lock:
            if self._views is None or self._views[0] != version:
                con = self.store.connect()
                con.execute("SET TimeZone = 'UTC'")
                self._views = (version, con)
            cursor = self._views[1].cursor()
        cursor.execute("SET TimeZone = 'UTC'")
        return cursor

    def query(self, sql: str) -> pa.Table:
        """Run ``sql`` and return its (small) result to the caller."""
        with self._connect() as con:
            return con.sql(sql).to_arrow_table()

    def batches(self, sql: str, per_customer: bool = False) -> Iterator[pa.RecordBatch]:
        """Stream ``sql``'s result in record batches of at most :attr:`batch_rows` rows.

        ``per_customer``: every row of ``sql`` is computed from one customer's rows of the hub tables (e.g. the
        feature query), so it runs chunk by chunk of :attr:`chunk_customers` customers, on views holding only
        theirs (:func:`cvm.store.chunks.chunk_connection`): DuckDB's joins and aggregations then hold one chunk,
        whatever the size of the base (a whole-base feature query held 6.3 GB at 4M customers).
        """
        if not per_customer:
            with self._connect() as con:
                yield from con.sql(sql).to_arrow_reader(self.batch_rows)
            return
        from cvm.store.chunks import chunk_connection, customer_ranges

        for chunk in customer_ranges(self.store, self.chunk_customers):
            with chunk_connection(self.store, chunk) as con:
                con.execute("SET TimeZone = 'UTC'")
                yield from con.sql(sql).to_arrow_reader(self.batch_rows)

    def map_into(
        self,
        tx: Transaction,
        table: str,
        sql: str,
        fn: BatchFn,
        partition: object | None = None,
        per_customer: bool = False,
    ) -> None:
        """Write ``fn`` of every record batch of ``sql`` into ``table`` within ``tx``, one batch at a time.

        With ``partition``, a row of another partition is refused (as on Spark); ``per_customer``: see
        :meth:`batches`.
        """
        for batch in self.batches(sql, per_customer):
            out = fn(batch)
            if out.num_rows:
                frame = pl.from_arrow(out)
                assert isinstance(frame, pl.DataFrame)
                if partition is not None:
                    tx.check_partition(table, partition, frame)
                tx.append(table, frame)


BACKENDS = ("duckdb", "spark")


def open_backend(settings: Settings, store: OfflineStore) -> OfflineBackend:
    """The offline backend named by ``settings.store.offline``."""
    name = settings.store.offline
    if name == "spark":
        import importlib.util

        if importlib.util.find_spec("pyspark") is None:
            raise UnsupportedOperationError(
                "store.offline is spark but pyspark is not installed: pip install 'cvm[spark]' (and a Java 17+ runtime)"
            )
        from cvm.store.spark import SparkBackend

        return SparkBackend(store, settings.store.spark)
    if name == "duckdb":
        return DuckDBBackend(store, chunk_customers=settings.scoring.chunk_customers)
    raise UnsupportedOperationError(f"unknown offline backend {name!r}: use one of {', '.join(BACKENDS)}")
