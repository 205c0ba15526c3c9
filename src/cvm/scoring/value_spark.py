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

:func:`buyer_values_spark` gives the per-buyer predictions behind the CLV (one-off CLV at a margin ratio of 1).
Not here (the DuckDB path computes them from the other hub tables): a live subscription's contract-valued
``p_alive``, the margins, the history, CLV and net-margin score rows and the grades, which rank the whole base.
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
from cvm.models.clv import clv as clv_value
from cvm.scoring.guards import check_converged
from cvm.scoring.inputs import DAYS_PER_MONTH, end_of_day
from cvm.scoring.models import PURCHASE_MODELS, SPEND_MODELS, FittedModel, fit_purchase_model, fit_spend_model
from cvm.scoring.rows import SCORE_COLUMNS, _purchase_parts
from cvm.scoring.value import _unit_days, monthly_rate

PURCHASE_SCORES = ("exp_purchases_12m", "p_alive")
# The ``scores`` contract's column types in Arrow and in Spark's DDL.
_TYPES = {"string": (pa.string(), "string"), "date": (pa.date32(), "date"), "float": (pa.float64(), "double")}
ROW_SCHEMA = pa.schema([pa.field(c.name, _TYPES[c.dtype][0]) for c in SCORES.columns])
SPARK_SCHEMA = ", ".join(f"{c.name} {_TYPES[c.dtype][1]}" for c in SCORES.columns)
_VALUE_COLUMNS = ("frequency", "recency", "T", "monetary_value", "exp_purchases_12m", "p_alive", "exp_spend")
VALUE_ARROW = pa.schema(
    [pa.field("customer_id", pa.string())] + [pa.field(c, pa.float64()) for c in (*_VALUE_COLUMNS, "clv_purchases")]
)
VALUE_SCHEMA = ", ".join(f"{f.name} {'string' if f.type == pa.string() else 'double'}" for f in VALUE_ARROW)


def purchases_spark(transactions: Any, as_of: date) -> Any:
    """The purchases known at the end of ``as_of``: ``customer_id, ts, amount`` with ``amount > 0``."""
    from pyspark.sql import functions as F  # noqa: N812

    buys = transactions.where((F.col("ts") < F.lit(end_of_day(as_of))) & (F.col("amount") > 0))
    return buys.select("customer_id", "ts", "amount")


def fit_value_models_spark(buys: Any, s: ScoringSettings, as_of: date) -> list[FittedModel]:
    """The purchase and spend models fitted on the driver from RFM counts aggregated on Spark.

    Raises as :func:`~cvm.scoring.value.compute_value_scores` does: too few buyers, a fit that did not
    converge, an infinite mean spend.
    """
    counts = rfm_counts_spark(buys, "customer_id", "ts", "amount", observation_period_end=as_of, freq=s.freq)
    purchase = fit_purchase_model(s.value_model, counts.rft, s.min_customers)
    check_converged(purchase)
    assert counts.spend is not None  # a monetary column was given
    spend = fit_spend_model(s.spend_model, counts.spend)
    check_converged(spend)
    return [purchase, spend]


def buyer_values_spark(
    transactions: Any, s: ScoringSettings, as_of: date, models: list[FittedModel] | None = None
) -> tuple[Any, list[FittedModel]]:
    """Per buyer: the RFM summary and its predictions, computed per partition (``mapInArrow``).

    Columns ``customer_id, frequency, recency, T, monetary_value, exp_purchases_12m, p_alive, exp_spend,
    clv_purchases``: the table :mod:`cvm.scoring.value` builds for buyers, with ``clv_purchases`` at a margin
    ratio of 1 (the caller multiplies it by each customer's margin ratio). Returns it and the fitted models
    (``models``, from :func:`fit_value_models_spark`, when given: they are not fitted again).
    """
    buys = purchases_spark(transactions, as_of)
    models = models or fit_value_models_spark(buys, s, as_of)
    summary = rfm_summary_spark(buys, "customer_id", "ts", "amount", observation_period_end=as_of, freq=s.freq)
    predict = partial(
        value_batches,
        purchase=models[0].model.to_dict(),
        spend=models[1].model.to_dict(),
        names=(s.value_model, s.spend_model),
        unit_days=_unit_days(s),
        horizon=s.horizon_months,
        monthly=monthly_rate(s.discount_rate),
    )
    return summary.mapInArrow(predict, VALUE_SCHEMA), models


def value_batches(
    batches: Iterator[pa.RecordBatch],
    *,
    purchase: Mapping[str, Any],
    spend: Mapping[str, Any],
    names: tuple[str, str],
    unit_days: float,
    horizon: int,
    monthly: float,
) -> Iterator[pa.RecordBatch]:
    """Predictions for RFM summary batches; the models come as their JSON documents (plain values)."""
    model = PURCHASE_MODELS[names[0]].from_dict(purchase)
    spend_model = SPEND_MODELS[names[1]].from_dict(spend)
    year = 12 * DAYS_PER_MONTH / unit_days
    for batch in batches:
        f, r, t, m = (
            batch.column(c).to_numpy(zero_copy_only=False) for c in ("frequency", "recency", "T", "monetary_value")
        )
        values = {
            "exp_purchases_12m": model.expected_purchases(year, f, r, t),
            "p_alive": model.probability_alive(f, r, t),
            "exp_spend": spend_model.expected_spend(f, m),
            "clv_purchases": clv_value(
                model,
                spend_model,
                f,
                r,
                t,
                m,
                horizon=horizon,
                discount_rate=monthly,
                periods_per_month=DAYS_PER_MONTH / unit_days,
            ),
        }
        columns = [batch.column(c) for c in VALUE_ARROW.names[:5]] + [
            pa.array(v, pa.float64()) for v in values.values()
        ]
        yield pa.RecordBatch.from_arrays(columns, schema=VALUE_ARROW)


def purchase_scores_spark(
    transactions: Any,
    s: ScoringSettings,
    as_of: date,
    customers: Any | None = None,
    models: list[FittedModel] | None = None,
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
    models
        The purchase and spend models of :func:`fit_value_models_spark`, when already fitted.

    Returns
    -------
    rows, models
        The rows (columns of the ``scores`` table, unsorted) and the fitted purchase and spend models.
        Raises :class:`~cvm.scoring.report.NotEnoughDataError` or
        :class:`~cvm.scoring.guards.ModelNotConvergedError` as :func:`~cvm.scoring.value.compute_value_scores`.
    """
    buys = purchases_spark(transactions, as_of)
    purchase, spend = models or fit_value_models_spark(buys, s, as_of)
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


__all__ = [
    "PURCHASE_SCORES",
    "buyer_values_spark",
    "fit_value_models_spark",
    "purchase_scores_spark",
    "purchases_spark",
    "score_batches",
    "value_batches",
]
