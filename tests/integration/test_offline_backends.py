"""The offline backend seam: resolved by name, the same query and per-batch function on DuckDB and Spark."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from cvm.config import Settings, load_settings
from cvm.store import OfflineStore
from cvm.store.backend import Capability, DuckDBBackend, UnsupportedOperationError, open_backend
from cvm.store.spark import SparkBackend
from tests.spark_session import SPARK_MARKS, spark

__all__ = ["spark"]  # the shared session fixture

pytestmark = SPARK_MARKS

AS_OF = date(2026, 3, 31)
QUERY = f"""
SELECT customer_id, DATE '{AS_OF}' AS as_of, 'spend' AS score, SUM(amount) AS value
FROM transactions GROUP BY customer_id
"""


def _doubled(batch: pa.RecordBatch) -> pa.Table:
    table = pa.Table.from_batches([batch])
    return table.set_column(table.schema.get_field_index("value"), "value", pc.multiply(table["value"], 2.0))


def _store(tmp_path: Path) -> OfflineStore:
    store = OfflineStore(tmp_path / "off")
    store.create()
    ids = [f"C{i:03d}" for i in range(40)]
    with store.transaction() as tx:
        tx.append(
            "customers",
            pl.DataFrame({"customer_id": ids, "acquired_at": [date(2025, 1, 1)] * 40, "kind": ["B2C"] * 40}),
        )
        tx.append(
            "transactions",
            pl.DataFrame(
                {
                    "transaction_id": [f"T{i}" for i in range(120)],
                    "customer_id": [ids[i % 40] for i in range(120)],
                    "ts": pl.datetime_range(
                        pl.datetime(2026, 1, 1), pl.datetime(2026, 1, 1) + pl.duration(hours=119), "1h", eager=True
                    ).dt.replace_time_zone("UTC"),
                    "amount": [float(i) + 0.25 for i in range(120)],
                }
            ),
        )
    return store


def _scores(store: OfflineStore) -> pl.DataFrame:
    return store.read("scores").sort("customer_id")


def test_the_backend_is_resolved_by_name_from_the_environment(tmp_path: Path, spark: Any) -> None:
    store = _store(tmp_path)
    assert isinstance(open_backend(Settings(), store), DuckDBBackend)
    env = {"CVM__STORE__OFFLINE": "spark", "CVM__STORE__SPARK__MASTER": "local[2]"}
    settings = load_settings(None, env)
    backend = open_backend(settings, store)
    assert isinstance(backend, SparkBackend)
    assert settings.store.spark.master == "local[2]"
    assert backend.spark.conf.get("spark.sql.session.timeZone") == "UTC"


def test_an_operation_a_backend_cannot_do_names_both(tmp_path: Path) -> None:
    backend = DuckDBBackend(_store(tmp_path))
    with pytest.raises(
        UnsupportedOperationError, match=r"duckdb offline backend cannot score on workers: .* map_partitions"
    ):
        backend.require(Capability.MAP_PARTITIONS, "score on workers")


def test_map_into_writes_the_same_rows_on_duckdb_and_spark(tmp_path: Path, spark: Any) -> None:
    duck_store, spark_store = _store(tmp_path / "d"), _store(tmp_path / "s")
    duck = DuckDBBackend(duck_store, batch_rows=7)  # several batches
    with duck_store.transaction() as tx:
        tx.drop_partition("scores", AS_OF)
        duck.map_into(tx, "scores", QUERY, _doubled)
    sparkb = SparkBackend(spark_store, Settings().store.spark)
    with spark_store.transaction() as tx:
        tx.drop_partition("scores", AS_OF)
        sparkb.map_into(tx, "scores", QUERY, _doubled)
    a, b = _scores(duck_store), _scores(spark_store)
    assert a.height == 40
    assert a.schema == b.schema
    assert a.equals(b)
    assert spark_store.partitions("scores") == [AS_OF.isoformat()]
    assert sparkb.query("SELECT COUNT(*) AS n FROM scores").column("n").to_pylist() == [40]


def test_a_failed_spark_job_leaves_the_previous_partition(tmp_path: Path, spark: Any) -> None:
    store = _store(tmp_path)
    backend = SparkBackend(store, Settings().store.spark)
    with store.transaction() as tx:
        backend.map_into(tx, "scores", QUERY, _doubled)
    before = _scores(store)

    def broken(batch: pa.RecordBatch) -> pa.Table:
        raise RuntimeError("worker failed")

    def overwrite() -> None:
        with store.transaction() as tx:
            tx.drop_partition("scores", AS_OF)
            backend.map_into(tx, "scores", QUERY, broken)

    with pytest.raises(Exception, match="worker failed"):
        overwrite()
    assert _scores(store).equals(before)
