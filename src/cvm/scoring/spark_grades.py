"""What grading by share needs of a whole base, aggregated on Spark: a handful of numbers per score.

Each graded score's known values are counted, their smallest and largest found, and the values at the ranks
of the rule's cuts (:func:`cvm.scoring.grade_plans.cuts`) picked by one window ordered by value. The driver
turns these :class:`~cvm.scoring.grade_plans.ScoreStats` into grade plans
(:func:`cvm.scoring.grade_plans.plan`), which grade any partition as the whole base would be graded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cvm.scoring.grade_plans import ScoreStats, cuts
from cvm.scoring.grades import GradeRule

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from cvm.store.spark import SparkBackend


def rank_stats(backend: SparkBackend, values: DataFrame, rule_of: Callable[[str], GradeRule]) -> dict[str, ScoreStats]:
    """Per score of ``values`` (``score, value``; persist it, it is read twice): how many known values, the
    smallest, the largest, and the k-th largest at each cut of the score's rule (``rule_of(score)``)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as sf

    known = values.where(sf.col("value").isNotNull() & ~sf.isnan("value"))
    totals = values.groupBy("score").agg(
        sf.count("value").alias("n"), sf.min("value").alias("lo"), sf.max("value").alias("hi")
    )
    stats = {r["score"]: ScoreStats(int(r["n"]), r["lo"], r["hi"], {}) for r in totals.collect()}
    wanted = [(score, c) for score, x in stats.items() for c in set(cuts(x.n, rule_of(score))) if c >= 1]
    if wanted:
        ranks = backend.spark.createDataFrame(wanted, "score string, r long")
        ranked = known.withColumn("r", sf.row_number().over(Window.partitionBy("score").orderBy(sf.desc("value"))))
        for row in ranked.join(sf.broadcast(ranks), ["score", "r"]).collect():
            stats[row["score"]].kth[int(row["r"])] = float(row["value"])
    return stats
