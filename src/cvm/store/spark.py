"""The ``spark`` offline backend: the same Parquet files and manifest, the work on a Spark cluster.

The session comes from ``store.spark`` (master, app name, extra conf) with the time zone fixed to UTC,
as the feature definitions require (:mod:`cvm.features.sql`). Tables are read from the files the
manifest lists; queries written in DuckDB's dialect run transpiled by sqlglot; writes go to a new folder
under the table (inside the ``as_of`` partition for a partitioned table) and join the manifest in the
caller's transaction, so a failed or killed Spark job leaves nothing visible.
"""

from __future__ import annotations

import os
import sys
import uuid
import warnings
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from cvm.contracts import table_schema
from cvm.contracts.tables import TableSchema
from cvm.dialect import to_spark_sql
from cvm.store.backend import BatchFn, Capability, require
from cvm.store.offline import _partition_text
from cvm.store.schema import arrow_schema, conform
from cvm.store.spark_fs import check_store

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from cvm.config.settings import SparkSettings
    from cvm.store.offline import OfflineStore, Transaction

#: Per Spark session: the store (root, committed version) whose tables its temporary views show.
_REGISTERED: dict[int, tuple[str, int]] = {}

#: Defaults that ``store.spark.conf`` may change: no progress bars drawn over the command's own output.
DEFAULT_CONF = {"spark.ui.showConsoleProgress": "false"}

#: Settings every CVM session has, whatever ``store.spark.conf`` says.
FIXED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def session(settings: SparkSettings) -> SparkSession:
    """The Spark session for ``settings`` (an active session in this process is reused)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(settings.master).appName(settings.app_name)
    if settings.master.startswith("local"):  # the workers are this machine's: they use this interpreter
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in {**DEFAULT_CONF, **settings.conf, **FIXED_CONF}.items():
        builder = builder.config(key, value)
    with warnings.catch_warnings():  # pyspark warns that it does not yet fully support pandas 3 (CVM's calls work)
        warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
        spark = builder.getOrCreate()
    if "spark.log.level" not in settings.conf:  # the command's own output, not Spark's warnings, on the terminal
        spark.sparkContext.setLogLevel("ERROR")
    for key, value in FIXED_CONF.items():  # getOrCreate keeps an existing session's static conf
        spark.conf.set(key, value)
    return spark


@cache
def _spark_types() -> dict[str, Any]:
    from pyspark.sql import types as st

    return {
        "string": st.StringType(),
        "int": st.LongType(),
        "float": st.DoubleType(),
        "bool": st.BooleanType(),
        "date": st.DateType(),
        "timestamp": st.TimestampType(),
    }


def spark_schema(table: TableSchema) -> Any:
    """The Spark schema of a hub table (every column nullable, as Parquet readers see them)."""
    from pyspark.sql import types as st

    types = _spark_types()
    return st.StructType([st.StructField(c.name, types[c.dtype], True) for c in table.columns])


class SparkBackend:
    """Offline backend that runs queries and per-batch functions on Spark."""

    name = "spark"
    capabilities = frozenset(
        {Capability.SQL, Capability.TRANSACTIONS, Capability.PARTITION_OVERWRITE, Capability.MAP_PARTITIONS}
    )

    def __init__(self, store: OfflineStore, settings: SparkSettings) -> None:
        self.store = store
        self.settings = settings
        self._session: SparkSession | None = None

    @property
    def spark(self) -> SparkSession:
        if self._session is None:
            spark = session(self.settings)
            check_store(spark, self.store)  # an s3a:// store needs Hadoop's S3 connector: one clear line if absent
            self._session = spark
        return self._session

    def require(self, capability: Capability, operation: str) -> None:
        require(self, capability, operation)

    def frame(self, table: str) -> DataFrame:
        """The committed rows of ``table`` as a Spark DataFrame, typed by its contract."""
        schema = table_schema(table)
        files = [self.store.location.spark_uri(p) for p in self.store.parts(table)]
        if not files:
            return self.spark.createDataFrame([], spark_schema(schema))
        return self.spark.read.schema(spark_schema(schema)).parquet(*files)

    def sql(self, sql: str) -> DataFrame:
        """Run a query written in DuckDB's dialect over the committed tables.

        The tables' temporary views are registered again only when the store committed a new version.
        """
        from cvm.contracts import TABLES

        key = (self.store.url, int(self.store.manifest()["version"]))
        if _REGISTERED.get(id(self.spark)) != key:  # views are per session: another store may have replaced them
            for name in TABLES:
                self.frame(name).createOrReplaceTempView(name)
            _REGISTERED[id(self.spark)] = key
        return self.spark.sql(to_spark_sql(sql))

    def query(self, sql: str) -> pa.Table:
        """Run ``sql`` and return its (small) result to the driver."""
        return self.sql(sql).toArrow()

    def map_into(
        self,
        tx: Transaction,
        table: str,
        sql: str,
        fn: BatchFn,
        partition: object | None = None,
        per_customer: bool = False,
    ) -> None:
        """Run ``fn`` on every partition of ``sql``'s result and add the output to ``table`` in ``tx``.

        On a partitioned table the output must belong to one partition (a run writes its own ``as_of``):
        ``partition`` names it (the workers refuse a row outside it), else one more Spark job finds it.
        ``per_customer`` changes nothing here: the cluster already spreads the query over its partitions.
        """
        mapped = self.sql(sql).mapInArrow(_batches(fn, table, partition), spark_schema(table_schema(table)))
        self.write(tx, table, mapped, partition)

    def write(self, tx: Transaction, table: str, frame: DataFrame, partition: object | None = None) -> None:
        """Write a Spark DataFrame as new parts of ``table`` within ``tx`` (one partition, when partitioned)."""
        schema = table_schema(table)
        folder = table
        if schema.partition_by is not None:
            if partition is None:
                values = [r[0] for r in frame.select(schema.partition_by).distinct().limit(2).collect()]
                if not values:  # no rows: nothing to add
                    return
                if len(values) != 1:
                    raise ValueError(f"{table}: a Spark write must hold exactly one {schema.partition_by}")
                partition = values[0]
            folder = f"{table}/{schema.partition_by}={tx.partition_text(partition)}"
        rel = f"{folder}/spark-{uuid.uuid4().hex[:12]}"
        target = self.store.location.spark_uri(rel)
        frame.select(*[c.name for c in schema.columns]).write.parquet(target, compression="zstd")
        tx.adopt(table, rel)


def _batches(fn: BatchFn, table: str, partition: object | None = None) -> Any:
    """The mapInArrow function: ``fn`` on each batch, cast to the table's Arrow schema.

    With ``partition``, a row of another partition fails the task (it would land in the wrong folder).
    """
    schema = table_schema(table)
    target = arrow_schema(schema)
    column, expected = schema.partition_by, None if partition is None else _partition_text(partition)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import polars as pl

        for batch in batches:
            frame = pl.from_arrow(fn(batch))
            assert isinstance(frame, pl.DataFrame)
            if column is not None and expected is not None and frame.height:
                found = {_partition_text(v) for v in frame[column].unique().to_list()}
                if found != {expected}:
                    raise ValueError(f"{table}: rows of {column} {sorted(found)} in the partition {expected}")
            yield from conform(frame, schema).to_arrow().cast(target).to_batches()

    return run
