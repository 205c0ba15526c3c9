"""Value scores per customer, point in time, written to the ``scores`` table.

Scores (one row per customer and ``as_of``):

- ``revenue_hist``, ``margin_hist``: revenue and margin to date (refunds included);
- ``exp_purchases_12m``: expected purchases in the next 12 months (BG/NBD, Pareto/NBD or MBG/NBD,
  Fader, Hardie & Lee 2005; Schmittlein et al. 1987; Batislam et al. 2007);
- ``p_alive``: probability the customer is still buying; 1 for a subscriber with a live contract;
- ``clv``: discounted margin over ``horizon_months``, graded low/medium/high;
- ``margin_12m``, ``cost_to_serve_12m``, ``net_margin_12m`` and ``net_clv``: gross and net margin of the
  last 12 months and the CLV net of the expected cost to serve (:mod:`cvm.scoring.cost_to_serve`).

A customer with a live subscription is valued by the shifted beta-geometric model (Fader & Hardie
2007) fitted on subscribers' monthly tenure: MRR × margin × discounted expected paid months, plus
the value of their one-off purchases. The one-off value of every buyer is the purchase model
with Gamma-Gamma spend (Fader, Hardie & Lee 2005), in lifetimes' ``customer_lifetime_value``
convention, times the customer's margin ratio. Only data known at the end of ``as_of`` is used.

Guardrails (:mod:`cvm.scoring.guards`): a purchase or spend model that did not converge (or has a
parameter at a bound) writes no scores and says why; a contract model that did not leaves subscribers
valued on purchases only. CLV grades have absolute floors, and a CLV equal for everyone is not graded.

The inputs are one query (:mod:`cvm.scoring.value_inputs`, whose RFM summary is the SQL of
:mod:`cvm.features.rfm`: a sibling-stage import, allowed for that reason); this module holds the fit on
sufficient statistics (:func:`fit_counts`) and the one computation of the value table (:func:`values_of`), which
both backends run per batch of customers (:mod:`cvm.scoring.value_batch`): chunk by chunk on DuckDB
(:mod:`cvm.scoring.value_chunks`), per partition on Spark (:mod:`cvm.scoring.value_spark`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cvm.config.settings import ScoringSettings
from cvm.models.clv import clv as clv_value
from cvm.scoring.chunks import grade_series
from cvm.scoring.cost_to_serve import GRADED_NET, NET_SCORES, add_net_clv
from cvm.scoring.grades import GradeRule
from cvm.scoring.guards import ModelNotConvergedError, append_reason, captured_warnings, check_converged
from cvm.scoring.inputs import DAYS_PER_MONTH
from cvm.scoring.models import (
    FittedModel,
    contract_periods,
    discounted_remaining_months,
    fit_contract_model,
    fit_purchase_model,
    fit_spend_model,
)
from cvm.scoring.report import NotEnoughDataError

VALUE_SCORES = ("revenue_hist", "margin_hist", "exp_purchases_12m", "p_alive", "clv", *NET_SCORES)


def grade_rule(s: ScoringSettings) -> GradeRule:
    """The grading rule of the settings."""
    return GradeRule(
        s.grading,
        s.high_share,
        s.medium_share,
        s.high_threshold,
        s.medium_threshold,
        medium_floor=s.medium_floor,
        high_floor=s.high_floor,
    )


def monthly_rate(annual: float) -> float:
    """The monthly discount rate equivalent to an annual one: (1 + r)^(1/12) - 1."""
    return float((1.0 + annual) ** (1.0 / 12.0) - 1.0)


def _unit_days(s: ScoringSettings) -> float:
    return 7.0 if s.freq == "W" else 1.0


RFM = ("frequency", "recency", "T", "monetary_value")
PURCHASE_COLUMNS = (*RFM, "exp_purchases_12m", "p_alive", "exp_spend", "clv_purchases")


@dataclass
class ValueFit:
    """What is fitted on the whole base: the value models and the base's margin ratio."""

    purchase: FittedModel
    spend: FittedModel
    contract: FittedModel | None
    base_margin: float
    notes: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[FittedModel]:
        """The fitted models, purchase first."""
        return [self.purchase, self.spend, *([self.contract] if self.contract else [])]


def fit_counts(
    s: ScoringSettings,
    rft: pd.DataFrame,
    spend: pd.DataFrame,
    bases: pd.DataFrame,
    recorded: tuple[float, float, int],
    as_of: date,
) -> ValueFit:
    """The value models fitted on the base's sufficient statistics, on either backend.

    ``rft`` and ``spend`` are :func:`~cvm.features.rfm.rfm_counts`' distinct rows with customer counts; ``bases``
    the subscribers' tenure and churn (one row each, or distinct rows with a ``customers`` count); ``recorded``
    the sums of the recorded margins and their revenue and how many customers recorded one (the base margin ratio when
    ``margin_source`` is ``transactions``).
    """
    if rft.empty:
        raise NotEnoughDataError(f"no purchases up to {as_of}: nothing to score")
    notes: list[str] = []
    with captured_warnings(notes):
        purchase = fit_purchase_model(s.value_model, rft, s.min_customers)
        check_converged(purchase)
        spend_model = fit_spend_model(s.spend_model, spend)
        check_converged(spend_model)
        try:
            fitted = fit_contract_model(s.contractual_model, bases, s.min_customers)
            check_converged(fitted)
            contract: FittedModel | None = fitted
        except (NotEnoughDataError, ModelNotConvergedError) as exc:
            contract = None
            notes.append(f"contract model not used, subscribers valued on purchases only: {exc}")
    margin, revenue, n = recorded
    base_margin = s.margin_rate
    if s.margin_source == "transactions" and n and revenue > 0:
        base_margin = float(np.clip(margin / revenue, 0.0, 1.0))
    return ValueFit(purchase, spend_model, contract, base_margin, notes)


def _purchase_values(rfm: pd.DataFrame, s: ScoringSettings, margin: pd.Series, fit: ValueFit) -> pd.DataFrame:
    """RFM, expected purchases, P(alive), expected spend and one-off CLV per buyer of the RFM summary ``rfm``."""
    if rfm.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in PURCHASE_COLUMNS})
    f, r, t, m = (rfm[c].to_numpy(float) for c in RFM)
    year = 12 * DAYS_PER_MONTH / _unit_days(s)
    purchase, spend = fit.purchase.model, fit.spend.model
    return rfm.assign(
        exp_purchases_12m=purchase.expected_purchases(year, f, r, t),
        p_alive=purchase.probability_alive(f, r, t),
        exp_spend=spend.expected_spend(f, m),
        clv_purchases=margin.reindex(rfm.index).to_numpy(float)
        * clv_value(
            purchase,
            spend,
            f,
            r,
            t,
            m,
            horizon=s.horizon_months,
            discount_rate=monthly_rate(s.discount_rate),
            periods_per_month=DAYS_PER_MONTH / _unit_days(s),
        ),
    )


def _contract_values(base: pd.DataFrame, s: ScoringSettings, margin: pd.Series, fit: ValueFit) -> pd.DataFrame:
    """Tenure, live MRR and contract CLV per subscriber of ``base`` (:func:`~cvm.scoring.value_inputs.contract_sql`,
    indexed by customer id; none when the contract model is not used)."""
    if fit.contract is None:
        return pd.DataFrame(columns=["tenure_months", "churned", "mrr", "clv_contract"], dtype=float)
    active = base[~base["churned"]]
    periods = contract_periods(active["tenure_months"].to_numpy(float), np.zeros(len(active), dtype=bool))
    months = discounted_remaining_months(fit.contract.model, periods, s.horizon_months, monthly_rate(s.discount_rate))
    clv = active["mrr"].to_numpy(float) * margin.reindex(active.index).to_numpy(float) * months
    return base.assign(clv_contract=pd.Series(clv, index=active.index)).fillna({"clv_contract": 0.0})


def _margins(hist: pd.DataFrame, s: ScoringSettings, base: float) -> pd.Series:
    """Margin ratio per customer: their own, else the base's (``base``), else ``margin_rate``."""
    if s.margin_source == "rate":
        return pd.Series(s.margin_rate, index=hist.index, dtype=float)
    return hist["margin_ratio"].fillna(base).astype(float)


def values_of(
    hist: pd.DataFrame, rfm: pd.DataFrame, base: pd.DataFrame, costs: pd.DataFrame, s: ScoringSettings, fit: ValueFit
) -> pd.DataFrame:
    """The value table from per-customer inputs (each indexed by customer id): the history of the customers
    to value (``hist``, their order), the buyers' RFM summary, the subscribers' contract base and the costs.
    The one computation of both backends (:mod:`cvm.scoring.value_batch` calls it per Spark partition)."""
    margin = _margins(hist, s, fit.base_margin)
    buyers = _purchase_values(rfm, s, margin, fit)
    contracts = _contract_values(base, s, margin, fit)
    table = hist.join(buyers, how="left").join(contracts, how="left")
    table["contract"] = table["churned"].eq(False) & table["clv_contract"].notna()
    table.loc[table["contract"], "p_alive"] = 1.0  # a live contract is observed, not inferred
    table["clv"] = table["clv_purchases"].fillna(0.0) + table["clv_contract"].fillna(0.0)
    return add_net_clv(table.join(costs, how="left"), s.horizon_months, monthly_rate(s.discount_rate))


GRADED = ("clv", *GRADED_NET)  # graded values: column -> its grade column
GRADE_COLUMN = {"clv": "grade", **{g: f"{g}_grade" for g in GRADED_NET}}
TOTALS = {"clv": "clv", "revenue_hist": "revenue", "exp_purchases_12m": "exp_purchases_12m"}
TOTALS |= {"net_clv": "net_clv", "cost_to_serve_12m": "cost_to_serve_12m"}


def graded_rows(rows: pl.DataFrame, codes: Mapping[str, np.ndarray[Any, Any]], ungraded: str | None) -> pl.DataFrame:
    """Score rows without grades (of customers sorted by id) with the grade ``codes`` of each graded score (in the
    same customer order) and why the CLV is not graded appended to its reasons."""
    grades = np.zeros(rows.height, dtype=np.int8)
    for col in GRADED:  # a graded score's rows are in the chunk's customer order (sorted by id)
        grades[(rows["score"] == col).to_numpy()] = codes[col]
    rows = rows.with_columns(grade_series(grades))
    return rows if ungraded is None else append_reason(rows, "clv", ungraded)
