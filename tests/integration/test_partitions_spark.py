"""Partitioned tables on the Spark backend: the features table as on DuckDB, and a kill -9 mid-overwrite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from cvm.config import Settings
from cvm.contracts import DATA_TABLES
from cvm.demo import generate
from cvm.features.persist import write_features
from cvm.store import OfflineStore
from cvm.store.backend import DuckDBBackend
from cvm.store.spark import SparkBackend
from tests.spark_session import SPARK_MARKS, spark

__all__ = ["spark"]  # the shared session fixture

pytestmark = SPARK_MARKS

AS_OF = date(2024, 12, 1)
D1, D2 = date(2026, 1, 31), date(2026, 2, 28)


def _demo_store(root: Path, demo: Path) -> OfflineStore:
    store = OfflineStore(root)
    store.create()
    with store.transaction() as tx:
        for name in DATA_TABLES:
            tx.append(name, pl.read_parquet(demo / f"{name}.parquet"))
    return store


def test_the_features_table_is_the_same_on_duckdb_and_spark(tmp_path: Path, spark: Any) -> None:
    generate(300, seed=3, out=tmp_path / "demo", end=date(2024, 12, 31))
    duck = _demo_store(tmp_path / "d", tmp_path / "demo")
    sparks = _demo_store(tmp_path / "s", tmp_path / "demo")
    a = write_features(DuckDBBackend(duck), AS_OF)
    b = write_features(SparkBackend(sparks, Settings().store.spark), AS_OF)
    assert (a.rows, a.products, a.backend, b.backend) == (b.rows, b.products, "duckdb", "spark")
    left = duck.read("features", partition=AS_OF).sort("customer_id")
    right = sparks.read("features", partition=AS_OF).sort("customer_id")
    assert left.height > 250
    assert left.schema == right.schema  # late_share_* are doubles on Spark too (its AVG of a cast gives a decimal)
    assert_frame_equal(left, right, check_exact=False, rel_tol=1e-9)
    assert sparks.partitions("features") == [AS_OF.isoformat()]


_SPARK_OVERWRITER = """
import sys, time
from datetime import date
from cvm.config.settings import SparkSettings
from cvm.contracts import table_schema
from cvm.store import OfflineStore
from cvm.store.spark import SparkBackend, spark_schema

def slow(batches):  # a task that takes its time, so that the kill lands mid-write
    for batch in batches:
        time.sleep(0.5)
        yield batch

store = OfflineStore(sys.argv[1])
backend = SparkBackend(store, SparkSettings(master="local[1]", conf={"spark.ui.enabled": "false"}))
rows = backend.spark.range(0, 4000, 1, 40).selectExpr(
    "concat('N', id) AS customer_id", "DATE'2026-02-28' AS as_of", "'clv' AS score", "CAST(id AS DOUBLE) AS value",
    "CAST(NULL AS STRING) AS grade", "CAST(NULL AS STRING) AS model_version", "CAST(NULL AS STRING) AS reasons")
with store.transaction() as tx:
    tx.drop_partition("scores", date(2026, 2, 28))
    out = rows.mapInArrow(slow, spark_schema(table_schema("scores")))
    backend.write(tx, "scores", out, partition=date(2026, 2, 28))
"""


def _scores(as_of: date, ids: list[str], value: float) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame({"customer_id": ids, "as_of": [as_of] * n, "score": ["clv"] * n, "value": [value] * n})


def _dead_parts(folder: Path) -> list[Path]:
    return [p for d in folder.glob("spark-*") for p in d.rglob("*.parquet")]


def test_kill9_during_a_spark_partition_overwrite_leaves_the_previous_partition(tmp_path: Path, spark: Any) -> None:
    store = OfflineStore(tmp_path / "off")
    store.create()
    with store.transaction() as tx:
        tx.append("scores", pl.concat([_scores(D1, ["A"], 1.0), _scores(D2, ["A", "B"], 2.0)]))
    before = store.read("scores").sort("as_of", "customer_id")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    # its own session (and so its own process group: the JVM and its Python workers die with it)
    proc = subprocess.Popen(
        [sys.executable, "-c", _SPARK_OVERWRITER, str(store.root)], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    folder = store.root / "scores" / f"as_of={D2}"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and len(_dead_parts(folder)) < 2 and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None, "the Spark write ended before it could be killed"
        assert len(_dead_parts(folder)) >= 2, "the Spark write did not start in time"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _dead_parts(folder)  # the killed job's files are on disk, in no manifest
    assert store.read("scores").sort("as_of", "customer_id").equals(before)  # Polars reads the previous state
    frame = SparkBackend(store, Settings().store.spark).frame("scores").toArrow()
    on_spark = pl.from_arrow(frame)
    assert isinstance(on_spark, pl.DataFrame)
    assert on_spark.sort("as_of", "customer_id").equals(before)  # and so does Spark
    with store.transaction() as tx:  # the next write sweeps the dead job's folder
        tx.append("scores", _scores(D1, ["Z"], 0.5))
    assert list(folder.glob("spark-*")) == []
    assert store.read("scores", partition=D2).equals(before.filter(pl.col("as_of") == D2))
    listed = {store.root / rel for rel in store.manifest()["tables"]["scores"]}
    assert set((store.root / "scores").rglob("*.parquet")) == listed
