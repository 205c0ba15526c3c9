"""CLV of any transaction file, without a workspace: what ``cvm clv fit`` runs.

File (read like ``cvm ingest`` reads it: :func:`cvm.ingest.readers.read_source` detects the encoding,
delimiter, decimal mark and date format, or takes them from :class:`~cvm.ingest.readers.ReadOptions`)
-> RFM summary (DuckDB) -> purchase model -> spend model -> per-customer predictions and CLV,
plus the diagnostic plots. Months are 365.25 / 12 days.

This module is the whole pipeline of one command, so it composes three stages: the RFM query of
:mod:`cvm.features.rfm`, the models, and the plots of :mod:`cvm.reporting.clv_plots` (an exception to "no
sibling-stage imports": there is no workspace, hence no table, between them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cvm.contracts.tables import DType
from cvm.features.rfm import Freq, activity_by_period, calibration_and_holdout, rfm_summary
from cvm.ingest.coerce import coerce
from cvm.ingest.readers import LINE, ReadOptions, SourceError, normalise_header, read_source
from cvm.models.clv import clv as clv_value
from cvm.reporting import clv_plots as plotting
from cvm.scoring.inputs import DAYS_PER_MONTH
from cvm.scoring.models import FittedModel, fit_purchase_model, fit_spend_model
from cvm.scoring.value import monthly_rate

Step = Callable[[str], None]


@dataclass(frozen=True)
class ClvOptions:
    """Columns, models and CLV conventions of a file fit."""

    customer_col: str = "customer_id"
    time_col: str = "ts"
    amount_col: str = "amount"
    model: str = "bgnbd"
    spend: str | None = "gg"
    freq: Freq = "D"
    horizon_months: int = 12
    discount_rate: float = 0.10
    margin: float = 1.0
    observation_end: str | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    """How to read the file (every None detected, as ``cvm ingest`` does)."""

    @property
    def unit_days(self) -> float:
        return 7.0 if self.freq == "W" else 1.0

    @property
    def horizon_units(self) -> float:
        return self.horizon_months * DAYS_PER_MONTH / self.unit_days


@dataclass
class ClvFit:
    """The models fitted on a file and the per-customer predictions."""

    options: ClvOptions
    purchase: FittedModel
    spend: FittedModel | None
    predictions: pd.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)
    data: pd.DataFrame | pl.DataFrame | None = None
    """The transactions as read (what :func:`make_figures` plots)."""

    def to_dict(self) -> dict[str, Any]:
        p = self.predictions
        return {
            "customers": len(p),
            "freq": self.options.freq,
            "horizon_months": self.options.horizon_months,
            "discount_rate_annual": self.options.discount_rate,
            "margin": self.options.margin,
            "purchase_model": self.purchase.to_dict(),
            "spend_model": self.spend.to_dict() if self.spend else None,
            "totals": {
                "exp_purchases": round(float(p["exp_purchases"].sum()), 4),
                "clv": round(float(p["clv"].sum()), 2) if "clv" in p else None,
            },
        }


def _noop(_: str) -> None:
    return None


_ROLES: tuple[tuple[str, DType], ...] = (("customer_col", "string"), ("time_col", "timestamp"), ("amount_col", "float"))


def read_transactions(path: Path | str, options: ClvOptions) -> pl.DataFrame:
    """The customer, time and amount columns of a transaction file, typed, under the names of ``options``.

    Raises
    ------
    SourceError
        When the file cannot be read, lacks a column, or holds a value that is not of its type
        (the message names the file, the line and the column).
    """
    raw = read_source(path, options.read)
    wanted = {getattr(options, role): normalise_header(getattr(options, role)) for role, _ in _ROLES}
    missing = [name for name, header in wanted.items() if header not in raw.frame.columns]
    if missing:
        found = ", ".join(c for c in raw.frame.columns if c != LINE)
        raise SourceError(f"{raw.source}: transactions lack the column(s) {', '.join(missing)}; found {found}")
    columns = []
    for role, dtype in _ROLES:
        name = getattr(options, role)
        cells = raw.frame[wanted[name]]
        typed = coerce(cells, dtype, decimal=raw.info.decimal, date_format=raw.info.date_format)
        bad = typed.invalid.arg_true()
        if len(bad):
            first, many = int(bad[0]), f"{len(bad):,} such cell" + ("s" if len(bad) > 1 else "")
            raise SourceError(
                f"{raw.source}: line {raw.frame[LINE][first]}: column {name}: cannot read {cells[first]!r} as a "
                f"{dtype} ({many}; set --decimal, --date-format or --encoding if detection is wrong)"
            )
        columns.append(typed.values.alias(name))
    return pl.DataFrame(columns)


def fit_clv_file(source: Path | str | pd.DataFrame, options: ClvOptions, step: Step = _noop) -> ClvFit:
    """Fit the purchase (and spend) model on a transaction file (or frame) and predict every customer."""
    o = options
    step("Reading")
    data = read_transactions(source, o) if isinstance(source, Path | str) else source
    step("RFM summary")
    rfm = rfm_summary(
        data, o.customer_col, o.time_col, o.amount_col, observation_period_end=o.observation_end, freq=o.freq
    )
    step(f"Fitting {o.model}")
    purchase = fit_purchase_model(o.model, rfm, min_customers=2)
    f, r, t, m = (rfm[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    pred = rfm.assign(
        exp_purchases=purchase.model.expected_purchases(o.horizon_units, f, r, t),
        p_alive=purchase.model.probability_alive(f, r, t),
    )
    spend = None
    if o.spend:
        step(f"Fitting {o.spend}")
        spend = fit_spend_model(o.spend, rfm)
        step("Predicting CLV")
        pred["exp_spend"] = spend.model.expected_spend(f, m)
        pred["clv"] = clv_value(
            purchase.model,
            spend.model,
            f,
            r,
            t,
            m,
            horizon=o.horizon_months,
            discount_rate=monthly_rate(o.discount_rate),
            margin=o.margin,
            periods_per_month=DAYS_PER_MONTH / o.unit_days,
        )
    return ClvFit(o, purchase, spend, pred, data=data)


def make_figures(fit: ClvFit, step: Step = _noop) -> dict[str, Any]:
    """The diagnostic plots of a file fit; the calibration plot refits on the first 75% of the time."""
    o, rfm, source = fit.options, fit.predictions, fit.data
    if source is None:
        raise ValueError("the fit holds no transactions to plot")
    max_f, max_t = plotting.matrix_bounds(rfm)
    step("Plotting")
    figures = {
        "frequency_recency": plotting.frequency_recency_matrix(fit.purchase.model, max_f, max_t, t=o.horizon_units),
        "p_alive": plotting.probability_alive_matrix(fit.purchase.model, max_f, max_t),
    }
    activity = activity_by_period(source, o.customer_col, o.time_col, o.observation_end, freq=o.freq)
    tracking = plotting.tracking_data(fit.purchase.model, activity, o.freq)
    figures["tracking_incremental"] = plotting.tracking_incremental(tracking)
    figures["tracking_cumulative"] = plotting.tracking_cumulative(tracking)
    start, end = activity.index.min(), activity.index.max()
    cal_end = start + (end - start) * 0.75
    step("Calibration / holdout fit")
    cal = calibration_and_holdout(
        source, o.customer_col, o.time_col, cal_end, o.observation_end or None, o.freq, monetary_value_col=None
    )
    cal_fit = fit_purchase_model(
        o.model, cal.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"}), 2
    )
    figures["calibration_holdout"] = plotting.calibration_vs_holdout(cal_fit.model, cal)
    fit.figures = figures
    return figures


def predictions_table(fit: ClvFit) -> pd.DataFrame:
    """Per-customer predictions with the customer id as a column, ready to write."""
    out = fit.predictions.reset_index()
    return out.replace([np.inf, -np.inf], np.nan)
