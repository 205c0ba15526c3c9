"""The purchase-model value scores on Spark: RFM aggregated on the cluster, models fitted on the driver.

The same steps as :mod:`cvm.scoring.value` for ``exp_purchases_12m`` and ``p_alive``, without collecting
the customers to one process:

1. the purchases known at the end of ``as_of`` (``ts`` before midnight UTC after it, ``amount > 0``) are
   summarised on Spark by the RFM SQL of :mod:`cvm.features.rfm` (transpiled by sqlglot), once into the
   sufficient statistics of the fits (:func:`~cvm.features.rfm.rfm_counts_spark`: distinct rows with customer
   counts, small) and once per customer;
2. the purchase and spend models are fitted on the driver from the counts (the same parameters as a fit on
   one row per customer, so the same ``model_version``), with the same guards (``scoring.min_customers``,
   convergence, a finite mean spend);
3. the predictions and score rows are made per partition (``mapInArrow``) by the rows code of the DuckDB path
   (:mod:`cvm.scoring.rows`). The function shipped to the executors carries the fitted models as their JSON
   documents (plain numbers and strings), and cvm must be importable there.

Not here (the DuckDB path computes them from the other hub tables): a live subscription's contract-valued
``p_alive``, the history, CLV and net-margin scores and the grades, which rank the whole base.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from functools import partial
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from cvm.config.settings import ScoringSettings
from cvm.contracts.tables import SCORES
from cvm.features.rfm import rfm_counts_spark, rfm_summary_spark
from cvm.scoring.guards import check_converged
from cvm.scoring.inputs import DAYS_PER_MONTH, end_of_day
from cvm.scoring.models import PURCHASE_MODELS, FittedModel, fit_purchase_model, fit_spend_model
from cvm.scoring.rows import SCORE_COLUMNS, _purchase_parts
from cvm.scoring.value import _unit_days

PURCHASE_SCORES = ("exp_purchases_12m", "p_alive")
# The ``scores`` contract's column types in Arrow and in Spark's DDL.
_TYPES = {"string": (pa.string(), "string"), "date": (pa.date32(), "date"), "float": (pa.float64(), "double")}
ROW_SCHEMA = pa.schema([pa.field(c.name, _TYPES[c.dtype][0]) for c in SCORES.columns])
SPARK_SCHEMA = ", ".join(f"{c.name} {_TYPES[c.dtype][1]}" for c in SCORES.columns)


def purchase_scores_spark(
    transactions: Any, s: ScoringSettings, as_of: date, customers: Any | None = None
) -> tuple[Any, list[FittedModel]]:
    """Rows of ``scores`` for ``exp_purchases_12m`` and ``p_alive`` as of ``as_of``, as a Spark DataFrame.

    Parameters
    ----------
    transactions
        Spark DataFrame with ``customer_id`` (string), ``ts`` (timestamp) and ``amount`` (double); later rows
        and refunds are left out here. The session time zone should be UTC.
    s
        The value-scoring settings (``scoring``): models, ``freq`` and ``min_customers``.
    as_of
        The scoring date.
    customers
        Optional Spark DataFrame with ``customer_id`` of every customer known at ``as_of``: those without a
        purchase then get their rows too (``no purchase yet``), as on DuckDB.

    Returns
    -------
    rows, models
        The rows (columns of the ``scores`` table, unsorted) and the fitted purchase and spend models.
        Raises :class:`~cvm.scoring.report.NotEnoughDataError` or
        :class:`~cvm.scoring.guards.ModelNotConvergedError` as :func:`~cvm.scoring.value.compute_value_scores`.
    """
    from pyspark.sql import functions as F  # noqa: N812

    buys = transactions.where((F.col("ts") < F.lit(end_of_day(as_of))) & (F.col("amount") > 0))
    buys = buys.select("customer_id", "ts", "amount")
    counts = rfm_counts_spark(buys, "customer_id", "ts", "amount", observation_period_end=as_of, freq=s.freq)
    purchase = fit_purchase_model(s.value_model, counts.rft, s.min_customers)
    check_converged(purchase)
    assert counts.spend is not None  # a monetary column was given
    spend = fit_spend_model(s.spend_model, counts.spend)
    check_converged(spend)
    summary = rfm_summary_spark(buys, "customer_id", "ts", "amount", observation_period_end=as_of, freq=s.freq)
    if customers is not None:
        summary = customers.select("customer_id").distinct().join(summary, "customer_id", "left")
    score = partial(
        score_batches,
        purchase=purchase.model.to_dict(),
        name=s.value_model,
        as_of=as_of,
        unit_days=_unit_days(s),
    )
    return summary.mapInArrow(score, SPARK_SCHEMA), [purchase, spend]


def score_batches(
    batches: Iterator[pa.RecordBatch], *, purchase: Mapping[str, Any], name: str, as_of: date, unit_days: float
) -> Iterator[pa.RecordBatch]:
    """Score rows of RFM summary batches (``customer_id, frequency, recency, T[, monetary_value]``).

    ``purchase`` is the fitted purchase model's JSON document (:meth:`~cvm.models.clv.ClvModel.to_dict`).
    """
    model = PURCHASE_MODELS[name].from_dict(purchase)
    version = FittedModel("purchase", name, model, 0).version
    parts = _purchase_parts(version, unit_days)
    year = 12 * DAYS_PER_MONTH / unit_days
    for batch in batches:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        yield from _rows(frame, model, parts, year, as_of).to_batches()


def _rows(frame: pl.DataFrame, model: Any, parts: list[list[pl.Expr]], year: float, as_of: date) -> pa.Table:
    buyer = frame["frequency"].is_not_null().to_numpy()
    f, r, t = (frame[c].fill_null(0.0).to_numpy().astype(np.float64) for c in ("frequency", "recency", "T"))
    exp = np.full(len(frame), np.nan)
    alive = np.full(len(frame), np.nan)
    if buyer.any():
        exp[buyer] = model.expected_purchases(year, f[buyer], r[buyer], t[buyer])
        alive[buyer] = model.probability_alive(f[buyer], r[buyer], t[buyer])
    table = frame.with_columns(
        pl.Series("exp_purchases_12m", exp, nan_to_null=True),
        pl.Series("p_alive", alive, nan_to_null=True),
        pl.lit(False).alias("contract"),
        pl.lit(None, pl.Float64).alias("tenure_months"),
    )
    rows = pl.concat([table.select(p) for p in parts], how="vertical").with_columns(pl.lit(as_of).alias("as_of"))
    return rows.select(SCORE_COLUMNS).to_arrow().cast(ROW_SCHEMA)


__all__ = ["PURCHASE_SCORES", "purchase_scores_spark", "score_batches"]
