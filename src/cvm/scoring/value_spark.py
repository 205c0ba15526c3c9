"""The value scores (CLV) on Spark: inputs aggregated on the cluster, models fitted on the driver, rows per partition.

The same scores as :func:`cvm.scoring.value_chunks.write_value_scores` on one machine, row for row, without collecting
the customers to one process:

1. **fit** on the driver from sufficient statistics aggregated on Spark: the purchase and spend models from the
   RFM counts (:func:`~cvm.features.rfm.rfm_counts_spark`: distinct rows with customer counts, the same
   parameters as a fit on one row per customer, so the same ``model_version``), the contract model from the
   distinct (tenure, churned) of the subscribers (:func:`~cvm.scoring.value_inputs.contract_counts_sql`), and the
   base's margin ratio from two sums; with the same guards and notes;
2. **inputs**: one row per customer (:func:`~cvm.scoring.value_inputs.value_inputs_sql`, DuckDB's dialect,
   transpiled), computed once and persisted for the two passes;
3. **grades**: the graded values (CLV, net margin, net CLV) per partition
   (:func:`cvm.scoring.value_batch.values_batch`); the cluster ranks them
   (:func:`cvm.scoring.spark_grades.rank_stats`) and sums the report's totals;
4. **rows** per partition (:func:`cvm.scoring.value_batch.rows_batch`), written into the ``as_of`` partition of
   ``scores`` in place of its earlier value scores, in one transaction (:mod:`cvm.store.spark_partition`).

The functions shipped to the executors carry the fitted models as their JSON documents and the settings as
JSON (:class:`~cvm.scoring.value_batch.ValueJob`); cvm must be importable there.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any

from cvm.config.settings import ScoringSettings, Settings
from cvm.contracts.tables import SCORES
from cvm.features.rfm import rfm_counts_spark
from cvm.scoring.grade_plans import GradePlan, plan
from cvm.scoring.grades import GRADES
from cvm.scoring.inputs import end_of_day
from cvm.scoring.report import NotEnoughDataError, ScoreReport
from cvm.scoring.spark_grades import rank_stats
from cvm.scoring.value import GRADED, TOTALS, VALUE_SCORES, ValueFit, fit_counts, grade_rule
from cvm.scoring.value_batch import SUMMED, ValueJob, rows_batch, values_batch
from cvm.scoring.value_inputs import base_margin_sql, contract_counts_sql, value_inputs_sql
from cvm.store.backend import Capability
from cvm.store.spark import spark_schema
from cvm.store.spark_partition import rewrite_partition

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from cvm.store.spark import SparkBackend


def purchases_spark(transactions: Any, as_of: date) -> Any:
    """The purchases known at the end of ``as_of``: ``customer_id, ts, amount`` with ``amount > 0``."""
    from pyspark.sql import functions as F  # noqa: N812

    buys = transactions.where((F.col("ts") < F.lit(end_of_day(as_of))) & (F.col("amount") > 0))
    return buys.select("customer_id", "ts", "amount")


def fit_values_spark(backend: SparkBackend, s: ScoringSettings, as_of: date) -> ValueFit:
    """:func:`cvm.scoring.value_chunks.fit_values` on Spark: the same models, base margin, guards and notes.

    Raises as the one-machine fit does: no purchase, too few buyers, a fit that did not converge, an infinite
    mean spend.
    """
    buys = purchases_spark(backend.frame("transactions"), as_of)
    counts = rfm_counts_spark(buys, "customer_id", "ts", "amount", observation_period_end=as_of, freq=s.freq)
    if counts.rft.empty:  # before the other queries: their cost buys nothing
        raise NotEnoughDataError(f"no purchases up to {as_of}: nothing to score")
    assert counts.spend is not None  # a monetary column was given
    base = backend.query(contract_counts_sql(as_of)).to_pandas().astype({"churned": bool})
    sums = backend.query(base_margin_sql(as_of, s.margin_rate)).to_pylist()[0]
    recorded = (float(sums["margin"] or 0.0), float(sums["revenue"] or 0.0), int(sums["n"] or 0))
    return fit_counts(s, counts.rft, counts.spend, base, recorded, as_of)


@dataclass(frozen=True)
class _Pass:
    """What the first pass over the inputs gives: the grade plans and the report's sums."""

    plans: dict[str, GradePlan]
    sums: dict[str, float]
    counts: dict[str, int]


def _first_pass(backend: SparkBackend, job: ValueJob, inputs: DataFrame, s: ScoringSettings) -> _Pass:
    from pyspark import StorageLevel
    from pyspark.sql import functions as sf

    values = inputs.mapInArrow(_iter(values_batch, job), "score string, value double")
    values = values.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        rule = grade_rule(s)
        graded = values.where(sf.col("score").isin(list(GRADED)))
        stats = rank_stats(backend, graded, lambda _: rule)
        summed = values.where(sf.col("score").startswith("total:")).groupBy("score")
        rows = summed.agg(sf.sum("value").alias("sum"), sf.count("value").alias("n")).collect()
    finally:
        values.unpersist()
    totals = {r["score"].removeprefix("total:"): (float(r["sum"] or 0.0), int(r["n"])) for r in rows}
    plans = {col: plan(rule, stats[col], "CLV") for col in GRADED if col in stats}
    return _Pass(
        plans, {k: totals.get(k, (0.0, 0))[0] for k in SUMMED}, {k: totals.get(k, (0.0, 0))[1] for k in SUMMED}
    )


def _iter(fn: Any, *args: Any) -> Any:
    """A mapInArrow function: ``fn(*args, batch)`` on every batch of the partition."""

    def run(batches: Any) -> Any:
        for batch in batches:
            yield from fn(*args, batch).to_batches()

    return run


def write_value_scores_on(
    backend: SparkBackend, settings: Settings, as_of: date, channel_cost: Mapping[Any, float] | None = None
) -> ScoreReport:
    """Compute the value scores as of ``as_of`` on Spark and write them into that date's partition of ``scores``,
    replacing its earlier value scores (other scores of that date and other dates are kept)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as sf

    backend.require(Capability.MAP_PARTITIONS, "compute the value scores (CLV) on its workers")
    s = settings.scoring
    fit = fit_values_spark(backend, s, as_of)
    job = ValueJob.of(as_of, s, fit)
    view = f"cvm_value_inputs_{uuid.uuid4().hex[:12]}"  # the inputs, built once for both passes
    inputs = backend.sql(value_inputs_sql(as_of, s, channel_cost)).persist(StorageLevel.MEMORY_AND_DISK)
    inputs.createOrReplaceTempView(view)
    try:
        first = _first_pass(backend, job, inputs, s)
        plans = first.plans
        new = rewrite_partition(
            backend,
            "scores",
            as_of,
            f"SELECT * FROM {view}",
            partial(rows_batch, job, plans),
            lambda stored, _rows: stored.where(~sf.col("score").isin(list(VALUE_SCORES))),
        )
    finally:
        backend.spark.catalog.dropTempView(view)
        inputs.unpersist()
    written = backend.spark.read.schema(spark_schema(SCORES)).parquet(*new) if new else None
    clv = written.where(sf.col("score") == "clv").groupBy("grade").count().collect() if written is not None else []
    counts = {r["grade"]: int(r["count"]) for r in clv}
    customers = sum(counts.values())
    ungraded = plans["clv"].why if "clv" in plans else None
    alive = first.counts["p_alive"]
    return ScoreReport(
        as_of=as_of,
        customers=customers,
        rows=customers * len(VALUE_SCORES),
        models=[m.to_dict() for m in fit.models],
        grades={g: counts.get(g, 0) for g in reversed(GRADES)},
        grading=grade_rule(s).describe(),
        totals={name: round(first.sums[name], 2) for name in TOTALS}
        | {"mean_p_alive": round(first.sums["p_alive"] / alive, 4) if alive else float("nan")},
        notes=[*fit.notes, *([ungraded] if ungraded else [])],
        backend=backend.name,
    )


__all__ = ["fit_values_spark", "purchases_spark", "write_value_scores_on"]
