"""The value scores of one batch of customers, from the rows of :func:`cvm.scoring.value_inputs.value_inputs_sql`.

What a Spark partition runs (``mapInArrow``): the batch's inputs become the frames of
:func:`cvm.scoring.value.values_of`, the one computation of the value table on both backends, then the rows of
:func:`cvm.scoring.rows.score_rows`, graded by the plans of :mod:`cvm.scoring.grade_plans` (thresholds from the
whole base's values). The fitted models and the settings travel as plain values (:class:`ValueJob`): the
models' JSON documents, no pickle of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from cvm.config.settings import ScoringSettings
from cvm.contracts.tables import SCORES
from cvm.scoring.chunks import grade_codes
from cvm.scoring.cost_to_serve import AGGREGATES, COUNTED, exposure_months, priced_costs
from cvm.scoring.grade_plans import GradePlan
from cvm.scoring.models import CONTRACT_MODELS, PURCHASE_MODELS, SPEND_MODELS, FittedModel
from cvm.scoring.rows import score_rows
from cvm.scoring.value import GRADE_COLUMN, GRADED, RFM, TOTALS, ValueFit, _unit_days, graded_rows, values_of
from cvm.store.schema import empty_frame

HISTORY = ("revenue", "margin", "purchases", "first_purchase", "last_purchase", "margin_ratio")
CONTRACT = ("tenure_months", "churned", "mrr")
_KINDS = {"purchase": PURCHASE_MODELS, "spend": SPEND_MODELS, "contract": CONTRACT_MODELS}
#: The per-customer values a Spark job sums for the report, as ``total:<name>`` rows of :func:`values_batch`.
SUMMED = {**TOTALS, "p_alive": "p_alive"}


@dataclass(frozen=True)
class ValueJob:
    """What a partition needs to value its customers: the date, the settings and the fit, as plain values."""

    as_of: date
    settings: dict[str, Any]  # ScoringSettings, as JSON
    models: tuple[tuple[str, str, dict[str, Any], int], ...]  # role, name, the model's JSON document, customers
    base_margin: float

    @classmethod
    def of(cls, as_of: date, s: ScoringSettings, fit: ValueFit) -> ValueJob:
        models = tuple((m.role, m.name, m.model.to_dict(), m.n_customers) for m in fit.models)
        return cls(as_of, s.model_dump(mode="json"), models, fit.base_margin)

    def scoring(self) -> ScoringSettings:
        return ScoringSettings.model_validate(self.settings)

    def fit(self) -> ValueFit:
        fitted = {
            role: FittedModel(role, name, _KINDS[role][name].from_dict(doc), n) for role, name, doc, n in self.models
        }
        return ValueFit(fitted["purchase"], fitted["spend"], fitted.get("contract"), self.base_margin)


def value_table(job: ValueJob, batch: pa.RecordBatch) -> pd.DataFrame:
    """The value table of the batch's customers (indexed by customer id, sorted), before grading."""
    s = job.scoring()
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.sort("customer_id")
    x = frame.to_pandas().set_index("customer_id")
    rfm = x.loc[x["frequency"].notna(), list(RFM)]
    base = x.loc[x["churned"].notna(), list(CONTRACT)].astype({"churned": bool})
    return values_of(x[list(HISTORY)], rfm, base, costs_of(job.as_of, s, frame), s, job.fit())


def costs_of(as_of: date, s: ScoringSettings, frame: pl.DataFrame) -> pd.DataFrame:
    """The cost columns of :func:`~cvm.scoring.cost_to_serve.priced_costs` (indexed by customer id) from rows of
    :func:`~cvm.scoring.value_inputs.value_inputs_sql`."""
    counted = frame.select("customer_id", exposure_months(as_of).alias("cost_months"), *COUNTED, *AGGREGATES)
    return priced_costs(counted, s.cost_to_serve).to_pandas().set_index("customer_id")


def _long(table: pd.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
    parts = [
        pl.DataFrame({"score": name, "value": pl.Series(table[col].to_numpy(float)).fill_nan(None)})
        for name, col in columns.items()
    ]
    return pl.concat(parts) if parts else pl.DataFrame(schema={"score": pl.Utf8, "value": pl.Float64})


def values_batch(job: ValueJob, batch: pa.RecordBatch) -> pa.Table:
    """``score, value`` of the batch: each graded value (the grade plans are made of them) and, as
    ``total:<name>``, the values the report sums."""
    if batch.num_rows == 0:  # an empty partition of the cluster
        return pl.DataFrame(schema={"score": pl.Utf8, "value": pl.Float64}).to_arrow()
    table = value_table(job, batch)
    graded = _long(table, {col: col for col in GRADED})
    summed = _long(table, {f"total:{name}": col for name, col in SUMMED.items()})
    return pl.concat([graded, summed]).to_arrow()


def _codes(plan: GradePlan, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if plan.why is not None:  # every known value is the same: no grade
        return np.zeros(len(values), dtype=np.int8)
    return grade_codes(plan.rule.apply(values))


def rows_batch(job: ValueJob, plans: dict[str, GradePlan], batch: pa.RecordBatch) -> pa.Table:
    """Rows of the ``scores`` table for the batch's customers: the value scores, graded by ``plans``."""
    if batch.num_rows == 0:  # an empty partition of the cluster
        return empty_frame(SCORES).to_arrow()
    table = value_table(job, batch)
    fit, s = job.fit(), job.scoring()
    codes = {col: _codes(plans[col], table[col].to_numpy(float)) for col in GRADED}
    for col in GRADED:
        table[GRADE_COLUMN[col]] = None
    rows = score_rows(table, job.as_of, fit.models, _unit_days(s))
    return graded_rows(rows, codes, plans["clv"].why).to_arrow()
