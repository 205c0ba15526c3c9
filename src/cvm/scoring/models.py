"""Fitting the value models for scoring, and how a fitted model is named in the score history."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cvm.models.clv import BetaGeo, GammaGamma, ModifiedBetaGeo, ParetoNBD, ShiftedBetaGeometric
from cvm.scoring.report import NotEnoughDataError, ScoringError

PURCHASE_MODELS: dict[str, type[Any]] = {"bgnbd": BetaGeo, "pnbd": ParetoNBD, "mbgnbd": ModifiedBetaGeo}
SPEND_MODELS: dict[str, type[Any]] = {"gg": GammaGamma}
CONTRACT_MODELS: dict[str, type[Any]] = {"sbg": ShiftedBetaGeometric}


@dataclass(frozen=True)
class FittedModel:
    """A fitted model as the score report shows it."""

    role: str
    name: str
    model: Any
    n_customers: int

    @property
    def params(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.model.params_.items()}

    @property
    def version(self) -> str:
        """``name-hash``: the model name and 8 hex digits of a hash of its rounded parameters."""
        return model_version(self.name, self.params)

    def to_dict(self) -> dict[str, Any]:
        m = self.model
        return {
            "role": self.role,
            "model": self.name,
            "version": self.version,
            "params": self.params,
            "standard_errors": {k: float(v) for k, v in getattr(m, "standard_errors_", {}).items()},
            "log_likelihood": float(m.log_likelihood_),
            "converged": bool(m.converged_),
            "n_customers": self.n_customers,
        }


def model_version(name: str, params: dict[str, float]) -> str:
    """Stable short id of a fitted model: equal parameters (to 10 significant digits) give equal ids."""
    text = json.dumps({k: f"{v:.10g}" for k, v in sorted(params.items())}, sort_keys=True)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _customers(rfm: pd.DataFrame) -> int:
    """Customers an RFM frame stands for: its rows, or the sum of its ``customers`` counts (sufficient statistics
    from :func:`cvm.features.rfm.rfm_counts`)."""
    return int(rfm["customers"].sum()) if "customers" in rfm.columns else len(rfm)


def _weights(rfm: pd.DataFrame) -> pd.Series | None:
    return rfm["customers"] if "customers" in rfm.columns else None


def fit_purchase_model(name: str, rfm: pd.DataFrame, min_customers: int) -> FittedModel:
    """Fit a BG/NBD-type model on an RFM summary (frequency, recency, T), one row per customer or distinct
    rows with a ``customers`` count (the same parameters)."""
    n = _customers(rfm)
    if n < min_customers:
        raise NotEnoughDataError(
            f"{n} customers have bought; the value models need at least {min_customers} (scoring.min_customers)"
        )
    model = PURCHASE_MODELS[name]().fit(rfm["frequency"], rfm["recency"], rfm["T"], weights=_weights(rfm))
    return FittedModel("purchase", name, model, n)


def fit_spend_model(name: str, rfm: pd.DataFrame) -> FittedModel:
    """Fit a spend model on the repeat buyers of an RFM summary (frequency > 0, monetary value > 0); rows may
    carry a ``customers`` count as in :func:`fit_purchase_model`."""
    repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
    n = _customers(repeat)
    if n < 3:
        raise NotEnoughDataError(f"{n} repeat buyers: too few to fit the spend model")
    model = SPEND_MODELS[name]().fit(repeat["frequency"], repeat["monetary_value"], weights=_weights(repeat))
    if name == "gg" and model.params_["q"] <= 1.0:
        raise ScoringError(
            f"Gamma-Gamma fitted q = {model.params_['q']:.3g} <= 1: spend is too heavy-tailed for a finite "
            "population mean; segment the customers (e.g. B2B and B2C) or cap outlying amounts"
        )
    return FittedModel("spend", name, model, n)


def contract_periods(tenure_months: NDArray[np.float64], churned: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Whole monthly periods for the sBG: a churned customer paid ``ceil`` (at least 1), an active one
    has completed ``floor`` renewals."""
    return np.where(churned, np.maximum(np.ceil(tenure_months), 1.0), np.floor(tenure_months))


def fit_contract_model(name: str, base: pd.DataFrame, min_customers: int) -> FittedModel:
    """Fit the contractual model on subscribers' tenure (months) and churn: one row per subscriber, or distinct
    rows with a ``customers`` count (the same parameters: the sBG fit compresses its rows, sorted)."""
    churned = base["churned"].to_numpy(bool)
    n = _customers(base)
    counts = base["customers"].to_numpy(np.int64) if "customers" in base.columns else np.ones(len(base), np.int64)
    lost = int(counts[churned].sum())
    if n < min_customers or lost in (0, n):
        raise NotEnoughDataError(
            f"{n} subscribers, {lost} churned: the contract model needs at least "
            f"{min_customers} subscribers with both churned and active ones"
        )
    periods = contract_periods(base["tenure_months"].to_numpy(float), churned)
    model = CONTRACT_MODELS[name]().fit(periods, churned, weights=_weights(base))
    return FittedModel("contract", name, model, n)


def discounted_remaining_months(
    model: Any, periods: NDArray[np.float64], horizon: int, monthly_rate: float
) -> NDArray[np.float64]:
    """Expected discounted paid months in the next ``horizon`` months of an active subscriber.

    A subscriber with ``n`` completed renewals pays month ``k`` (k = 1..horizon) if it survives
    ``k`` more renewals, with probability S(n + k) / S(n); month ``k`` is discounted by (1 + d)^k.
    """
    n = periods.astype(np.int64)
    grid = np.arange(int(n.max(initial=0)) + horizon + 1, dtype=float)
    survival = np.asarray(model.survival(grid), dtype=float)
    k = np.arange(1, horizon + 1)
    ratio = survival[n[:, None] + k[None, :]] / survival[n][:, None]
    # a row-wise sum, not a matrix product: BLAS may round a row differently with the number of rows, and a
    # customer's value must not depend on which chunk of customers it was scored in (cvm.store.chunks)
    return np.asarray((ratio * (1.0 + monthly_rate) ** -k.astype(float)).sum(axis=1), dtype=float)
