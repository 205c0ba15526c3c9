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

The RFM summary comes from :mod:`cvm.features.rfm`: value is scored on the same per-customer
query that the features stage defines (a sibling-stage import, allowed for that reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cvm.config.settings import ScoringSettings
from cvm.features.rfm import rfm_summary
from cvm.models.clv import clv as clv_value
from cvm.scoring.cost_to_serve import GRADED_NET, NET_SCORES, add_net_clv, cost_to_serve
from cvm.scoring.grades import GradeRule, grade_counts
from cvm.scoring.guards import ModelNotConvergedError, append_reason, captured_warnings, check_converged
from cvm.scoring.inputs import DAYS_PER_MONTH, PointInTime, contract_base, history, load_point_in_time, purchases
from cvm.scoring.models import (
    FittedModel,
    contract_periods,
    discounted_remaining_months,
    fit_contract_model,
    fit_purchase_model,
    fit_spend_model,
)
from cvm.scoring.report import NotEnoughDataError, ScoreReport
from cvm.scoring.rows import score_rows
from cvm.store import OfflineStore

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


def _purchase_values(pit: PointInTime, s: ScoringSettings, margin: pd.Series) -> tuple[pd.DataFrame, list[FittedModel]]:
    """RFM, expected purchases, P(alive), expected spend and one-off CLV per buyer."""
    buys = purchases(pit)
    if buys.height == 0:
        raise NotEnoughDataError(f"no purchases up to {pit.as_of}: nothing to score")
    rfm = rfm_summary(buys, "customer_id", "ts", "amount", observation_period_end=pit.as_of, freq=s.freq)
    purchase = fit_purchase_model(s.value_model, rfm, s.min_customers)
    check_converged(purchase)
    spend = fit_spend_model(s.spend_model, rfm)
    check_converged(spend)
    f, r, t, m = (rfm[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    year = 12 * DAYS_PER_MONTH / _unit_days(s)
    out = rfm.assign(
        exp_purchases_12m=purchase.model.expected_purchases(year, f, r, t),
        p_alive=purchase.model.probability_alive(f, r, t),
        exp_spend=spend.model.expected_spend(f, m),
        clv_purchases=margin.reindex(rfm.index).to_numpy(float)
        * clv_value(
            purchase.model,
            spend.model,
            f,
            r,
            t,
            m,
            horizon=s.horizon_months,
            discount_rate=monthly_rate(s.discount_rate),
            periods_per_month=DAYS_PER_MONTH / _unit_days(s),
        ),
    )
    return out, [purchase, spend]


def _contract_values(pit: PointInTime, s: ScoringSettings, margin: pd.Series) -> tuple[pd.DataFrame, list[FittedModel]]:
    """Tenure, live MRR and contract CLV per subscriber; raises NotEnoughDataError when the model cannot fit,
    ModelNotConvergedError when its fit cannot be trusted."""
    base = contract_base(pit).to_pandas().set_index("customer_id")
    fitted = fit_contract_model(s.contractual_model, base, s.min_customers)
    check_converged(fitted)
    active = base[~base["churned"]]
    periods = contract_periods(active["tenure_months"].to_numpy(float), np.zeros(len(active), dtype=bool))
    months = discounted_remaining_months(fitted.model, periods, s.horizon_months, monthly_rate(s.discount_rate))
    clv = active["mrr"].to_numpy(float) * margin.reindex(active.index).to_numpy(float) * months
    return base.assign(clv_contract=pd.Series(clv, index=active.index)).fillna({"clv_contract": 0.0}), [fitted]


def _margins(hist: pd.DataFrame, s: ScoringSettings) -> pd.Series:
    """Margin ratio per customer: their own, else the base's, else ``margin_rate``."""
    if s.margin_source == "rate":
        return pd.Series(s.margin_rate, index=hist.index, dtype=float)
    recorded = hist["margin_ratio"].notna()
    base = (
        float(np.clip(hist.loc[recorded, "margin"].sum() / hist.loc[recorded, "revenue"].sum(), 0.0, 1.0))
        if (recorded.any() and hist.loc[recorded, "revenue"].sum() > 0)
        else s.margin_rate
    )
    return hist["margin_ratio"].fillna(base).astype(float)


def compute_value_scores(
    pit: PointInTime, s: ScoringSettings, channel_cost: Mapping[Any, float] | None = None
) -> tuple[pl.DataFrame, ScoreReport]:
    """Every value score of every customer known at ``pit.as_of``, as rows of the ``scores`` table.

    ``channel_cost`` prices a contact on a channel that ``scoring.cost_to_serve.contact`` does not
    (``plans.policy.channel_cost``).
    """
    customers = pit.customers.select("customer_id").to_pandas().set_index("customer_id")
    hist = customers.join(history(pit, s.margin_rate).to_pandas().set_index("customer_id"), how="left")
    hist[["revenue", "margin", "purchases"]] = hist[["revenue", "margin", "purchases"]].fillna(0.0)
    margin = _margins(hist, s)
    notes: list[str] = []
    with captured_warnings(notes):
        buyers, models = _purchase_values(pit, s, margin)
        try:
            contracts, contract_models = _contract_values(pit, s, margin)
            models += contract_models
        except (NotEnoughDataError, ModelNotConvergedError) as exc:
            contracts = pd.DataFrame(columns=["tenure_months", "churned", "mrr", "clv_contract"], dtype=float)
            notes.append(f"contract model not used, subscribers valued on purchases only: {exc}")
    table = hist.join(buyers, how="left").join(contracts, how="left")
    table["contract"] = table["churned"].eq(False) & table["clv_contract"].notna()
    table.loc[table["contract"], "p_alive"] = 1.0  # a live contract is observed, not inferred
    table["clv"] = table["clv_purchases"].fillna(0.0) + table["clv_contract"].fillna(0.0)
    costs = cost_to_serve(pit, s.cost_to_serve, channel_cost or {}, s.margin_rate)
    table = add_net_clv(table.join(costs, how="left"), s.horizon_months, monthly_rate(s.discount_rate))
    rule = grade_rule(s)
    table["grade"] = rule.apply(table["clv"].to_numpy(float))
    for score in GRADED_NET:
        table[f"{score}_grade"] = rule.apply(table[score].to_numpy(float))
    rows = score_rows(table, pit.as_of, models, _unit_days(s))
    ungraded = rule.ungraded(table["clv"].to_numpy(float), "CLV")
    if ungraded is not None:
        rows = append_reason(rows, "clv", ungraded)
        notes.append(ungraded)
    report = ScoreReport(
        as_of=pit.as_of,
        customers=len(table),
        rows=rows.height,
        models=[m.to_dict() for m in models],
        grades=grade_counts(table["grade"].to_numpy(object)),
        grading=rule.describe(),
        totals={
            "clv": round(float(table["clv"].sum()), 2),
            "revenue_hist": round(float(table["revenue"].sum()), 2),
            "exp_purchases_12m": round(float(table["exp_purchases_12m"].sum()), 2),
            "mean_p_alive": round(float(table["p_alive"].mean()), 4),
            "net_clv": round(float(table["net_clv"].sum()), 2),
            "cost_to_serve_12m": round(float(table["cost_to_serve_12m"].sum()), 2),
        },
        notes=notes,
    )
    return rows, report


def write_value_scores(
    store: OfflineStore, s: ScoringSettings, as_of: date, channel_cost: Mapping[Any, float] | None = None
) -> ScoreReport:
    """Compute the value scores as of ``as_of`` and upsert them (re-scoring a date replaces it)."""
    rows, report = compute_value_scores(load_point_in_time(store, as_of), s, channel_cost)
    with store.transaction() as tx:
        tx.upsert("scores", rows)
    return report
