"""The value scores (CLV) of the whole base on DuckDB (part of ``cvm score``), by the functions a Spark partition
runs, in bounded memory.

The same steps as :mod:`cvm.scoring.value_spark`, with the customers in chunks instead of partitions:

1. **inputs**: :func:`~cvm.scoring.value_inputs.value_inputs_sql` (one row per customer) streams chunk by chunk
   of ``scoring.chunk_customers`` customers (:meth:`~cvm.store.backend.DuckDBBackend.batches` with
   ``per_customer``), in customer id order, and is staged in a private folder as Arrow files, so the query
   runs once;
2. **fit** (:func:`fit_values`): while they stream, the batches give the fits' sufficient statistics (distinct
   RFM and tenure rows with customer counts, the recorded margins); the models are fitted on them by
   :func:`cvm.scoring.value.fit_counts`, as on Spark;
3. **grades**: :func:`cvm.scoring.value_batch.values_batch` on every staged batch gives the graded values and
   the report's sums; the shares become grade plans of the whole base (:mod:`cvm.scoring.grade_plans`);
4. **rows**: :func:`cvm.scoring.value_batch.rows_batch` on every staged batch, written into the ``as_of``
   partition of ``scores`` in place of its earlier value scores, in one transaction.

Besides one batch, only numeric arrays are held: the graded values (8 bytes per customer and graded score) and
the recorded margins (16 bytes per customer with one).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from cvm.config.settings import ScoringSettings
from cvm.scoring.grade_plans import GradePlan, plan, stats_of
from cvm.scoring.grades import GRADES
from cvm.scoring.guards import captured_warnings
from cvm.scoring.report import ScoreReport
from cvm.scoring.value import GRADED, TOTALS, VALUE_SCORES, ValueFit, fit_counts, grade_rule
from cvm.scoring.value_batch import SUMMED, ValueJob, rows_batch, values_batch
from cvm.scoring.value_inputs import value_inputs_sql
from cvm.store import OfflineStore
from cvm.store.backend import DuckDBBackend
from cvm.store.chunks import staging_folder
from cvm.store.partitions import Owned, replace_scores

RFT = ("frequency", "recency", "T")
SPEND = ("frequency", "monetary_value")
TENURE = ("tenure_months", "churned")
_ARROW_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


def _counted(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    return frame.group_by(columns).agg(pl.len().cast(pl.Int64).alias("customers"))


def _merged(parts: list[pl.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    """Distinct rows of every batch's counts with their summed ``customers``, sorted (as the counts' SQL)."""
    if not parts:
        return pd.DataFrame({**{c: pd.Series(dtype=float) for c in columns}, "customers": pd.Series(dtype="int64")})
    merged = pl.concat(parts).group_by(columns).agg(pl.col("customers").sum()).sort(columns)
    return merged.to_pandas()


@dataclass
class FitStats:
    """The sufficient statistics of the value fits, gathered from batches of value inputs (customers in id order):
    :func:`~cvm.features.rfm.counts_sql`'s distinct rows with customer counts, the subscribers' distinct
    (tenure, churned) with counts, and the recorded margins and revenues."""

    rft: list[pl.DataFrame] = field(default_factory=list)
    spend: list[pl.DataFrame] = field(default_factory=list)
    tenure: list[pl.DataFrame] = field(default_factory=list)
    margin: list[np.ndarray[Any, Any]] = field(default_factory=list)
    revenue: list[np.ndarray[Any, Any]] = field(default_factory=list)

    def add(self, batch: pa.RecordBatch) -> None:
        """Count the batch's customers in."""
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        buyers = frame.filter(pl.col("frequency").is_not_null())
        self.rft.append(_counted(buyers, RFT))
        self.spend.append(_counted(buyers.filter(pl.col("frequency") > 0, pl.col("monetary_value") > 0), SPEND))
        self.tenure.append(_counted(frame.filter(pl.col("churned").is_not_null()), TENURE))
        recorded = frame.filter(pl.col("margin_ratio").is_not_null())
        self.margin.append(recorded["margin"].to_numpy().astype(float))
        self.revenue.append(recorded["revenue"].to_numpy().astype(float))

    def fit(self, s: ScoringSettings, as_of: date) -> ValueFit:
        """The value models fitted on the statistics (:func:`cvm.scoring.value.fit_counts`)."""
        margins, revenues = (np.concatenate(a) if a else np.zeros(0) for a in (self.margin, self.revenue))
        bases = _merged(self.tenure, TENURE).astype({"churned": bool})
        recorded = (float(margins.sum()), float(revenues.sum()), int(revenues.size))
        return fit_counts(s, _merged(self.rft, RFT), _merged(self.spend, SPEND), bases, recorded, as_of)


def fit_values(batches: Iterable[pa.RecordBatch], s: ScoringSettings, as_of: date) -> ValueFit:
    """The value models and base margin ratio fitted on every batch of value inputs (see :class:`FitStats`): the
    parameters of fits on one row per customer, to the last bit, however the base is cut."""
    stats = FitStats()
    for batch in batches:
        stats.add(batch)
    return stats.fit(s, as_of)


def _staged(batches: Iterable[pa.RecordBatch], folder: Path, paths: list[Path]) -> Iterator[pa.RecordBatch]:
    """Each batch, after writing it to an Arrow file in ``folder`` (its path appended to ``paths``)."""
    for batch in batches:
        if batch.num_rows:
            path = folder / f"inputs-{len(paths):05d}.arrow"
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, batch.schema, options=_ARROW_OPTIONS) as w:
                w.write_batch(batch)
            paths.append(path)
            yield batch


def _read(paths: list[Path]) -> Iterator[pa.RecordBatch]:
    for path in paths:
        with pa.OSFile(str(path), "rb") as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)


@dataclass
class _Graded:
    """What :func:`values_batch` gives over the base: the grade plans, the report's sums and the customers."""

    plans: dict[str, GradePlan]
    sums: dict[str, float]
    counts: dict[str, int]
    customers: int


def _first_pass(job: ValueJob, paths: list[Path], s: ScoringSettings) -> _Graded:
    values: dict[str, list[np.ndarray[Any, Any]]] = {col: [] for col in GRADED}
    sums, counts, customers = dict.fromkeys(SUMMED, 0.0), dict.fromkeys(SUMMED, 0), 0
    for batch in _read(paths):
        customers += batch.num_rows
        frame = pl.from_arrow(values_batch(job, batch))
        assert isinstance(frame, pl.DataFrame)
        by_score = {str(k[0]): v["value"].to_numpy().astype(float) for k, v in frame.group_by("score")}
        for col in GRADED:
            values[col].append(by_score[col])
        for name in SUMMED:
            summed = by_score[f"total:{name}"]
            sums[name] += float(np.nansum(summed))
            counts[name] += int(np.count_nonzero(~np.isnan(summed)))
    rule = grade_rule(s)
    plans = {col: plan(rule, stats_of(np.concatenate(values.pop(col)), rule), "CLV") for col in GRADED}
    return _Graded(plans, sums, counts, customers)


def _rows(
    job: ValueJob, plans: dict[str, GradePlan], paths: list[Path], grades: dict[str, int]
) -> Iterator[pl.DataFrame]:
    """The graded rows of every staged batch, counting the CLV grades into ``grades``."""
    for batch in _read(paths):
        rows = pl.from_arrow(rows_batch(job, plans, batch))
        assert isinstance(rows, pl.DataFrame)
        for grade, n in rows.filter(pl.col("score") == "clv").group_by("grade").len().iter_rows():
            if grade is not None:
                grades[grade] += n
        yield rows


def write_value_scores(
    store: OfflineStore, s: ScoringSettings, as_of: date, channel_cost: Mapping[Any, float] | None = None
) -> ScoreReport:
    """Compute the value scores as of ``as_of`` chunk by chunk and write them into that date's partition,
    replacing its earlier value scores (other scores of that date and other dates are kept).

    ``channel_cost`` prices a contact on a channel that ``scoring.cost_to_serve.contact`` does not
    (``plans.policy.channel_cost``).
    """
    backend = DuckDBBackend(store, chunk_customers=s.chunk_customers)
    sql = f"SELECT * FROM ({value_inputs_sql(as_of, s, channel_cost)}) AS inputs ORDER BY customer_id"
    grades = dict.fromkeys(reversed(GRADES), 0)
    with staging_folder(store) as staging:
        paths: list[Path] = []
        fit = fit_values(_staged(backend.batches(sql, per_customer=True), staging, paths), s, as_of)
        job = ValueJob.of(as_of, s, fit)
        notes = list(fit.notes)
        with captured_warnings(notes):
            first = _first_pass(job, paths, s)
            replace_scores(store, as_of, Owned(VALUE_SCORES), _rows(job, first.plans, paths, grades))
    ungraded = first.plans["clv"].why
    alive = first.counts["p_alive"]
    return ScoreReport(
        as_of=as_of,
        customers=first.customers,
        rows=first.customers * len(VALUE_SCORES),
        models=[m.to_dict() for m in fit.models],
        grades=grades,
        grading=grade_rule(s).describe(),
        totals={name: round(first.sums[name], 2) for name in TOTALS}
        | {"mean_p_alive": round(first.sums["p_alive"] / alive, 4) if alive else float("nan")},
        notes=[*notes, *([ungraded] if ungraded else [])],
        backend=backend.name,
    )
