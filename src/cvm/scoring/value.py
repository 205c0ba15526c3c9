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

Memory stays bounded (:mod:`cvm.scoring.chunks`): the models are fitted on the whole base's RFM and tenure
arrays gathered chunk by chunk, the CLV grades rank the whole base's values, and the rows are then computed
and written chunk by chunk into the ``as_of`` partition of ``scores`` in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cvm.config.settings import ScoringSettings
from cvm.features.rfm import RfmCounts, rfm_counts, rfm_summary
from cvm.models.clv import clv as clv_value
from cvm.scoring.chunks import base_grades, grade_series
from cvm.scoring.cost_to_serve import GRADED_NET, NET_SCORES, add_net_clv, cost_to_serve
from cvm.scoring.grades import GRADES, GradeRule
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
from cvm.store.chunks import ALL, Range, customer_ranges, staging_folder
from cvm.store.partitions import Owned, replace_scores

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


Loader = Callable[[Range], PointInTime]
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


def _history(pit: PointInTime, s: ScoringSettings) -> pd.DataFrame:
    """Every customer known at ``as_of`` (sorted by id) with their revenue, margin and purchases to date."""
    customers = pit.customers.select("customer_id").to_pandas().set_index("customer_id")
    hist = customers.join(history(pit, s.margin_rate).to_pandas().set_index("customer_id"), how="left")
    hist[["revenue", "margin", "purchases"]] = hist[["revenue", "margin", "purchases"]].fillna(0.0)
    return hist


def _rfm(pit: PointInTime, s: ScoringSettings) -> pd.DataFrame:
    """RFM summary of the chunk's buyers (empty, with its columns, when nobody bought)."""
    buys = purchases(pit)
    if buys.height == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in RFM})
    return rfm_summary(buys, "customer_id", "ts", "amount", observation_period_end=pit.as_of, freq=s.freq)


def _counts(pit: PointInTime, s: ScoringSettings) -> RfmCounts | None:
    """The chunk's RFM as sufficient statistics: distinct rows with customer counts (None when nobody bought)."""
    buys = purchases(pit)
    if buys.height == 0:
        return None
    return rfm_counts(buys, "customer_id", "ts", "amount", observation_period_end=pit.as_of, freq=s.freq)


def _merged(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Distinct rows of every chunk's counts with their summed ``customers``, sorted (as one chunk gives them)."""
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in [*columns, "customers"]})
    frame = pd.concat(parts, ignore_index=True)
    return frame.groupby(columns, sort=True)["customers"].sum().reset_index()


def fit_values(load: Loader, ranges: list[Range], s: ScoringSettings, as_of: date) -> ValueFit:
    """Fit the purchase, spend and contract models and the base margin ratio on every chunk's customers.

    The purchase and spend models are fitted on the base's sufficient statistics (:func:`rfm_counts`: distinct
    (frequency, recency, T) and (frequency, monetary value) rows with customer counts, merged chunk by chunk),
    which give the parameters of a fit on one row per customer to the last bit. Besides them, only numeric
    arrays are held: the subscribers' tenure and churn, and the recorded margins, in customer id order.
    """
    rft: list[pd.DataFrame] = []
    spend: list[pd.DataFrame] = []
    tenure: list[np.ndarray[Any, Any]] = []
    churned: list[np.ndarray[Any, Any]] = []
    margin, revenue = [], []
    for chunk in ranges:
        pit = load(chunk)
        hist = history(pit, s.margin_rate).sort("customer_id")
        recorded = hist["margin_ratio"].is_not_null().to_numpy()
        margin.append(hist["margin"].to_numpy().astype(float)[recorded])
        revenue.append(hist["revenue"].to_numpy().astype(float)[recorded])
        counts = _counts(pit, s)
        if counts is not None:
            rft.append(counts.rft)
            spend += [counts.spend] if counts.spend is not None else []
        base = contract_base(pit)
        tenure.append(base["tenure_months"].to_numpy().astype(float))
        churned.append(base["churned"].to_numpy().astype(bool))
    margins, revenues = np.concatenate(margin), np.concatenate(revenue)
    bases = pd.DataFrame({"tenure_months": np.concatenate(tenure), "churned": np.concatenate(churned)})
    return fit_counts(
        s,
        _merged(rft, ["frequency", "recency", "T"]),
        _merged(spend, ["frequency", "monetary_value"]),
        bases,
        (float(margins.sum()), float(revenues.sum()), int(revenues.size)),
        as_of,
    )


def fit_counts(
    s: ScoringSettings,
    rft: pd.DataFrame,
    spend: pd.DataFrame,
    bases: pd.DataFrame,
    recorded: tuple[float, float, int],
    as_of: date,
) -> ValueFit:
    """The value models fitted on the base's sufficient statistics, on either backend.

    ``rft`` and ``spend`` are :func:`rfm_counts`' distinct rows with customer counts; ``bases`` the subscribers'
    tenure and churn (one row each, or distinct rows with a ``customers`` count); ``recorded`` the sums of the
    recorded margins and their revenue and how many customers recorded one (the base margin ratio when
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
    """Tenure, live MRR and contract CLV per subscriber of ``base`` (:func:`~cvm.scoring.inputs.contract_base`,
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


def value_table(
    pit: PointInTime, s: ScoringSettings, fit: ValueFit, channel_cost: Mapping[Any, float] | None = None
) -> pd.DataFrame:
    """Every value of every customer of ``pit`` (indexed by customer id, sorted), before grading."""
    base = contract_base(pit).to_pandas().set_index("customer_id")
    costs = cost_to_serve(pit, s.cost_to_serve, channel_cost or {}, s.margin_rate)
    return values_of(_history(pit, s), _rfm(pit, s), base, costs, s, fit)


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


@dataclass
class ValuePlan:
    """The value scores of a base: each chunk's rows staged ungraded, and the grades of the whole base."""

    fit: ValueFit
    chunks: list[tuple[Path, int]]  # staged rows and customers per chunk
    codes: dict[str, np.ndarray[Any, Any]]
    ungraded: str | None
    report: ScoreReport

    def rows(self) -> Iterator[pl.DataFrame]:
        """Rows of the ``scores`` table, one frame per chunk, graded against the whole base."""
        offset = 0
        for path, customers in self.chunks:
            rows = pl.read_parquet(path)
            codes = {col: self.codes[col][offset : offset + customers] for col in GRADED}
            offset += customers
            yield graded_rows(rows, codes, self.ungraded)


def graded_rows(rows: pl.DataFrame, codes: Mapping[str, np.ndarray[Any, Any]], ungraded: str | None) -> pl.DataFrame:
    """Score rows without grades (of customers sorted by id) with the grade ``codes`` of each graded score (in the
    same customer order) and why the CLV is not graded appended to its reasons."""
    grades = np.zeros(rows.height, dtype=np.int8)
    for col in GRADED:  # a graded score's rows are in the chunk's customer order (sorted by id)
        grades[(rows["score"] == col).to_numpy()] = codes[col]
    rows = rows.with_columns(grade_series(grades))
    return rows if ungraded is None else append_reason(rows, "clv", ungraded)


def plan_values(
    load: Loader,
    ranges: list[Range],
    s: ScoringSettings,
    as_of: date,
    channel_cost: Mapping[Any, float] | None,
    staging: Path,
) -> ValuePlan:
    """Fit on the whole base, then score each chunk into ``staging`` (rows without grades) keeping the graded
    values, and grade the whole base: two passes over the chunks, holding arrays only."""
    fit = fit_values(load, ranges, s, as_of)
    notes = list(fit.notes)
    values: dict[str, list[np.ndarray[Any, Any]]] = {c: [] for c in GRADED}
    sums = dict.fromkeys([*TOTALS, "p_alive", "p_alive_n"], 0.0)
    chunks: list[tuple[Path, int]] = []
    with captured_warnings(notes):
        for k, chunk in enumerate(ranges):
            table = value_table(load(chunk), s, fit, channel_cost)
            for col in GRADED:
                values[col].append(table[col].to_numpy(float))
                table[GRADE_COLUMN[col]] = None
            for name, col in TOTALS.items():
                sums[name] += float(np.nansum(table[col].to_numpy(float)))
            alive = table["p_alive"].to_numpy(float)
            sums["p_alive"] += float(np.nansum(alive))
            sums["p_alive_n"] += float(np.count_nonzero(~np.isnan(alive)))
            path = staging / f"value-{k:05d}.parquet"
            score_rows(table, as_of, fit.models, _unit_days(s)).write_parquet(path, compression="lz4")
            chunks.append((path, len(table)))
    customers = sum(n for _, n in chunks)
    rule = grade_rule(s)
    codes, ungraded = {}, None
    for col in GRADED:
        codes[col], why = base_grades(rule, np.concatenate(values.pop(col)), "CLV")
        ungraded = why if col == "clv" else ungraded
    notes += [ungraded] if ungraded else []
    counts = np.bincount(codes["clv"], minlength=len(GRADES) + 1)
    report = ScoreReport(
        as_of=as_of,
        customers=customers,
        rows=customers * len(VALUE_SCORES),
        models=[m.to_dict() for m in fit.models],
        grades={g: int(counts[GRADES.index(g) + 1]) for g in reversed(GRADES)},
        grading=rule.describe(),
        totals={name: round(sums[name], 2) for name in TOTALS}
        | {"mean_p_alive": round(sums["p_alive"] / sums["p_alive_n"], 4) if sums["p_alive_n"] else float("nan")},
        notes=notes,
    )
    return ValuePlan(fit, chunks, codes, ungraded, report)


def compute_value_scores(
    pit: PointInTime, s: ScoringSettings, channel_cost: Mapping[Any, float] | None = None
) -> tuple[pl.DataFrame, ScoreReport]:
    """Every value score of every customer known at ``pit.as_of``, as rows of the ``scores`` table.

    ``channel_cost`` prices a contact on a channel that ``scoring.cost_to_serve.contact`` does not
    (``plans.policy.channel_cost``).
    """
    with staging_folder(None) as staging:
        plan = plan_values(lambda _: pit, [ALL], s, pit.as_of, channel_cost, staging)
        return pl.concat(list(plan.rows())), plan.report


def write_value_scores(
    store: OfflineStore, s: ScoringSettings, as_of: date, channel_cost: Mapping[Any, float] | None = None
) -> ScoreReport:
    """Compute the value scores as of ``as_of`` chunk by chunk and write them into that date's partition,
    replacing its earlier value scores (other scores of that date and other dates are kept)."""
    ranges = customer_ranges(store, s.chunk_customers)
    with staging_folder(store) as staging:
        plan = plan_values(lambda c: load_point_in_time(store, as_of, c), ranges, s, as_of, channel_cost, staging)
        replace_scores(store, as_of, Owned(VALUE_SCORES), plan.rows())
    return plan.report
