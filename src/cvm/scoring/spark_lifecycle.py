"""Life-cycle scores on an offline backend that maps over partitions (Spark): ``cvm score`` on a cluster.

The same feature query as on one machine (:func:`cvm.features.feature_query`, DuckDB's dialect, transpiled)
feeds two passes of per-batch functions (:mod:`cvm.scoring.lifecycle_batch`) run on the workers:

1. the values to grade; the backend ranks them per score (a window) and the driver turns the ranks into
   thresholds (:mod:`cvm.scoring.grade_plans`): a handful of numbers per score reach the driver;
2. :meth:`~cvm.store.backend.OfflineBackend.map_into` the ``scores`` table: values, grades and reasons.

The rows are those :func:`cvm.scoring.assembly.write_lifecycle_scores` writes on DuckDB, value for value.
They replace the stored rows of the same (customer, date, score) in the ``as_of`` partition, and the
other rows of the partition stay, in one transaction (:mod:`cvm.store.spark_partition`): a failed job
leaves the partition as it was.

Imports from a sibling stage: :mod:`cvm.features` (the feature query): customers are scored on features
built by the same definition the models were trained on.
"""

from __future__ import annotations

import uuid
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cvm.config.settings import Settings
from cvm.contracts.tables import SCORES
from cvm.features import feature_query
from cvm.features.on_backend import duckdb_types
from cvm.scoring.assembly import grade_rule
from cvm.scoring.grade_plans import ScoreStats, plan
from cvm.scoring.grades import GradeRule
from cvm.scoring.lifecycle_batch import Champions, rows_batch, values_batch
from cvm.scoring.registry import MODEL_NAMES, ModelRegistry
from cvm.scoring.spark_grades import rank_stats
from cvm.store.backend import Capability
from cvm.store.spark import SparkBackend, spark_schema
from cvm.store.spark_partition import rewrite_partition

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def _rule(score: str, s: Settings) -> GradeRule:
    return grade_rule(score.split(":", 1)[0], s)


def score_stats(
    backend: SparkBackend, champions: Champions, features: DataFrame, types: dict[str, pl.DataType], s: Settings
) -> dict[str, ScoreStats]:
    """Per graded score: how many known values, the smallest, the largest, and the k-th largest of its cuts.

    The values are computed once (persisted for the two aggregations); only these numbers reach the driver.
    """
    from pyspark import StorageLevel
    from pyspark.sql import types as st

    schema = st.StructType([st.StructField("score", st.StringType()), st.StructField("value", st.DoubleType())])
    values = features.mapInArrow(partial(_values_iter, champions, types), schema)
    values = values.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        return rank_stats(backend, values, lambda score: _rule(score, s))
    finally:
        values.unpersist()


def _values_iter(champions: Champions, types: dict[str, pl.DataType], batches: Any) -> Any:
    for batch in batches:
        yield from values_batch(champions, types, batch).to_batches()


def write_lifecycle_scores_on(backend: SparkBackend, workspace: Path, s: Settings, as_of: date) -> dict[str, Any]:
    """Score with the champions on ``backend`` (Spark) and store the rows; the info of
    :func:`cvm.scoring.lifecycle_chunks.write_lifecycle_scores`."""
    from pyspark import StorageLevel

    backend.require(Capability.MAP_PARTITIONS, "score the life-cycle models on its workers")
    found = {n: c for n, c in ModelRegistry(workspace).champions().items() if n in MODEL_NAMES}
    if not found:
        return {"skipped": "no trained champion (run `cvm train`)"}
    champions = Champions.of(found)
    sql = feature_query(as_of, champions.products())
    types = duckdb_types(sql)
    view = f"cvm_features_{uuid.uuid4().hex[:12]}"  # the features, built once for both passes
    features = backend.sql(sql).persist(StorageLevel.MEMORY_AND_DISK)
    features.createOrReplaceTempView(view)
    try:
        stats = score_stats(backend, champions, features, types, s)
        plans = {score: plan(_rule(score, s), st_, score) for score, st_ in stats.items()}
        keys = list(SCORES.key)
        new = rewrite_partition(
            backend,
            "scores",
            as_of,
            f"SELECT * FROM {view}",
            partial(rows_batch, champions, plans, as_of, types),
            lambda stored, rows: stored.join(rows.select(*keys), keys, "left_anti"),
        )
    finally:
        backend.spark.catalog.dropTempView(view)
        features.unpersist()
    written = backend.spark.read.schema(spark_schema(SCORES)).parquet(*new) if new else None
    counts = written.groupBy("score", "grade").count().collect() if written is not None else []
    grades: dict[str, dict[str, int]] = {}
    for row in counts:
        per = grades.setdefault(row["score"], {"high": 0, "medium": 0, "low": 0})
        if row["grade"] is not None:
            per[row["grade"]] = int(row["count"])
    rows = sum(int(r["count"]) for r in counts)
    notes = sorted({p.why for p in plans.values() if p.why})
    first = next(iter(sorted(stats)), None)
    customers = sum(int(r["count"]) for r in counts if r["score"] == first)
    return {
        "customers": customers,
        "rows": rows,
        "models": {n: champions.tag(n) for n in found},
        "grades": grades,
        "notes": notes,
    }
