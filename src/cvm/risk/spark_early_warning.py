"""Early warning on an offline backend that maps over partitions (Spark).

The history of ``default_points`` is reduced by one query (each customer's points at ``as_of`` and their
best points of the ``early_warning_days`` before it: of equal points, the latest date, as
:func:`cvm.risk.early_warning.early_warning` picks), and the flags are the same per-row function,
:func:`cvm.risk.early_warning.flags`, run on each partition. The flags replace that date's earlier flags
in the ``as_of`` partition; its other rows stay (:mod:`cvm.store.spark_partition`).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial
from typing import TYPE_CHECKING

import polars as pl

from cvm.config.settings import RiskSettings
from cvm.risk.early_warning import SCORE, flags
from cvm.store.backend import Capability
from cvm.store.spark import SparkBackend, spark_schema
from cvm.store.spark_partition import rewrite_partition

if TYPE_CHECKING:
    import pyarrow as pa

REFERENCE = """
WITH pts AS (
  SELECT customer_id, as_of, value, grade, model_version, reasons FROM scores
  WHERE score = 'default_points' AND as_of >= {since} AND as_of <= {as_of}
),
ref AS (
  SELECT customer_id, as_of AS ref_as_of, value AS ref, grade AS ref_grade,
    ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY value DESC, as_of DESC) AS rn
  FROM pts WHERE as_of < {as_of}
)
SELECT n.customer_id, n.as_of, n.value, n.grade, n.model_version, n.reasons, r.ref_as_of, r.ref, r.ref_grade
FROM pts AS n JOIN ref AS r ON r.customer_id = n.customer_id AND r.rn = 1
WHERE n.as_of = {as_of}"""


def reference_sql(risk: RiskSettings, as_of: date) -> str:
    """Each customer's points at ``as_of`` with their reference (best earlier) points, in DuckDB's dialect."""
    since = as_of - timedelta(days=risk.early_warning_days)
    return REFERENCE.format(since=f"DATE '{since.isoformat()}'", as_of=f"DATE '{as_of.isoformat()}'")


def flags_batch(risk: RiskSettings, as_of: date, batch: pa.RecordBatch) -> pa.Table:
    """The flags of one batch of :func:`reference_sql`'s rows."""
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return flags(frame, risk, as_of).to_arrow()


def write_early_warning_on(backend: SparkBackend, risk: RiskSettings, as_of: date) -> int:
    """Compute the flags at ``as_of`` on ``backend`` and store them, replacing that date's earlier flags;
    the number of flagged customers."""
    backend.require(Capability.MAP_PARTITIONS, "flag the early warnings on its workers")
    new = rewrite_partition(
        backend,
        "scores",
        as_of,
        reference_sql(risk, as_of),
        partial(flags_batch, risk, as_of),
        lambda stored, _rows: stored.where(stored["score"] != SCORE),
    )
    if not new:
        return 0
    from cvm.contracts.tables import SCORES

    return int(backend.spark.read.schema(spark_schema(SCORES)).parquet(*new).count())
