"""Replacing some rows of one partition on Spark, in one transaction of the offline store.

A stage that scores part of a date (the life-cycle scores, the early-warning flags) writes its rows with
:meth:`~cvm.store.spark.SparkBackend.map_into` and keeps the partition's other rows: the partition's old
files are dropped from the manifest, the new rows and the kept ones are written as new parts, and the
manifest commits all of it at once. Until then readers see the old partition; a failed job leaves it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cvm.contracts import table_schema
from cvm.store.backend import BatchFn
from cvm.store.spark import SparkBackend, spark_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: Which stored rows stay, given the stored rows of the partition and the new rows.
Keep = Callable[["DataFrame", "DataFrame"], "DataFrame"]


def rewrite_partition(backend: SparkBackend, table: str, value: object, sql: str, fn: BatchFn, keep: Keep) -> list[str]:
    """Write ``fn`` over ``sql`` into the partition ``value`` of ``table``, with the stored rows ``keep`` picks.

    Returns the new rows' files (to count or check them after the commit).
    """
    store, schema = backend.store, table_schema(table)
    read = backend.spark.read.schema(spark_schema(schema))
    with store.transaction() as tx:
        before = set(tx.manifest["tables"].get(table, []))
        old = [store.location.spark_uri(p) for p in store.parts(table, value)]
        tx.drop_partition(table, value)
        backend.map_into(tx, table, sql, fn, partition=value)
        new = [store.location.spark_uri(p) for p in tx.manifest["tables"].get(table, []) if p not in before]
        if old:
            empty = backend.spark.createDataFrame([], spark_schema(schema))
            kept = keep(read.parquet(*old), read.parquet(*new) if new else empty)
            backend.write(tx, table, kept, partition=value)
    return new
