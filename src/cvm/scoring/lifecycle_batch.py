"""Life-cycle scores of one batch of customers: the per-partition work of ``cvm score`` on a cluster.

:class:`Champions` carries the champions as plain values (each model's document: JSON and LightGBM's model
text, see :mod:`cvm.models.files`), so it travels to Spark's workers without pickling any object of
ours; each worker rebuilds the models once. :func:`values_batch` gives the values to grade (the first
pass, see :mod:`cvm.scoring.grade_plans`); :func:`rows_batch` gives the graded rows with their reasons,
computed row by row by the same functions as on one machine (:mod:`cvm.scoring.assembly`).

Imports from a sibling stage: :mod:`cvm.features` (the feature types, :func:`cvm.features.on_backend.as_duckdb`),
so a batch from Spark is typed as the frame the models were trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl

from cvm.contracts.tables import SCORES
from cvm.features.on_backend import as_duckdb
from cvm.scoring.assembly import _boosted, _rows, default_values, propensity_values
from cvm.scoring.registry import ModelVersion, model_from_document
from cvm.scoring.rows import SCORE_COLUMNS
from cvm.store.schema import empty_frame

if TYPE_CHECKING:
    import pyarrow as pa

    from cvm.scoring.grade_plans import GradePlan


@dataclass
class Champions:
    """The champions of a scoring run as plain values: ``{name: (kind, document, tag, products)}``."""

    docs: dict[str, tuple[str, dict[str, Any], str, list[str]]]
    _models: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, champions: dict[str, ModelVersion]) -> Champions:
        return cls(
            {
                n: (c.meta["kind"], c.document(), c.tag, list(c.meta.get("products", [])))
                for n, c in sorted(champions.items())
            }
        )

    def model(self, name: str) -> Any:
        """The fitted model of ``name``, rebuilt from its document once per process."""
        if name not in self._models:
            kind, doc, tag, _ = self.docs[name]
            self._models[name] = model_from_document(kind, doc, tag)
        return self._models[name]

    def tag(self, name: str) -> str:
        return self.docs[name][2]

    def products(self) -> list[str]:
        """Every product a champion knows (the ``holds_<product>`` features to build)."""
        return sorted({p for *_, products in self.docs.values() for p in products})


def features_of(types: dict[str, pl.DataType], batch: pa.RecordBatch) -> pd.DataFrame:
    """A batch of the feature query as the frame the models score, with DuckDB's ``types`` of the query."""
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return as_duckdb(frame, types).to_pandas()


@dataclass(frozen=True)
class Scored:
    """One graded score of a batch: its values and reasons, and the scores that share its grade and reasons."""

    score: str
    model: str  # the champion that gave it
    values: Any
    reasons: list[Any]
    shared: tuple[tuple[str, Any], ...] = ()  # (score, values), e.g. ``default_points``


def scored(champions: Champions, x: pd.DataFrame) -> list[Scored]:
    """Every graded score of the customers of ``x``, row by row (no grading yet)."""
    cache: dict[str, pd.DataFrame] = {}
    out: list[Scored] = []
    if "churn" in champions.docs:
        p, codes = _boosted(champions.model("churn"), x, cache)
        out.append(Scored("churn", "churn", p, codes))
    if "default" in champions.docs:
        p_bad, points, codes = default_values(champions.model("default"), x)
        out.append(Scored("default", "default", p_bad, codes, (("default_points", points),)))
    if "propensity" in champions.docs:
        products = champions.docs["propensity"][3]
        for name, value, reasons in propensity_values(champions.model("propensity"), products, x, cache):
            out.append(Scored(name, "propensity", value, reasons))
    return out


def values_batch(champions: Champions, types: dict[str, pl.DataType], batch: pa.RecordBatch) -> pa.Table:
    """``score, value`` of every graded score of the batch (the values a grade plan is made of)."""
    if batch.num_rows == 0:  # an empty partition of the cluster
        return pl.DataFrame(schema={"score": pl.Utf8, "value": pl.Float64}).to_arrow()
    x = features_of(types, batch)
    parts = [
        pl.DataFrame({"score": one.score, "value": pl.Series(np.asarray(one.values, dtype=np.float64)).fill_nan(None)})
        for one in scored(champions, x)
    ]
    frame = pl.concat(parts) if parts else pl.DataFrame(schema={"score": pl.Utf8, "value": pl.Float64})
    return frame.to_arrow()


def rows_batch(
    champions: Champions,
    plans: dict[str, GradePlan],
    as_of: date,
    types: dict[str, pl.DataType],
    batch: pa.RecordBatch,
) -> pa.Table:
    """Rows of the ``scores`` table for the batch: values, grades by ``plans`` and reasons."""
    if batch.num_rows == 0:  # an empty partition of the cluster
        return empty_frame(SCORES).to_arrow()
    x = features_of(types, batch)
    ids = x["customer_id"]
    parts = []
    for one in scored(champions, x):
        grade, kept = plans[one.score].grade(one.values, one.reasons)
        tag = champions.tag(one.model)
        parts += [_rows(ids, name, values, grade, tag, kept) for name, values in ((one.score, one.values), *one.shared)]
    rows = pl.concat(parts).with_columns(pl.lit(as_of).alias("as_of")).select(SCORE_COLUMNS)
    return rows.to_arrow()
