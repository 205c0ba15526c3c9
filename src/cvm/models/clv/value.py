"""Discounted customer lifetime value from a purchase model and a spend model."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from cvm.models.clv._data import FloatArray, as_float_array
from cvm.models.clv.gamma_gamma import GammaGamma
from cvm.models.clv.purchase import check_prediction_rft

if TYPE_CHECKING:  # pandas is imported by callers that pass a Series (it costs ~0.2 s to import)
    import pandas as pd

# Model time units per month, as in lifetimes' customer_lifetime_value.
PERIODS_PER_MONTH = {"H": 30.0 * 24.0, "D": 30.0, "W": 4.345, "M": 1.0}


class PurchaseModel(Protocol):
    """A fitted model of purchase counts: BetaGeo, ModifiedBetaGeo, ParetoNBD (or BetaGeoBetaBinom)."""

    def discounted_purchases(
        self,
        times: npt.ArrayLike,
        weights: npt.ArrayLike,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,  # noqa: N803
    ) -> FloatArray: ...


def clv(
    model: PurchaseModel,
    spend_model: GammaGamma | None,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803
    monetary_value: npt.ArrayLike,
    horizon: int = 12,
    discount_rate: float = 0.01,
    margin: float = 1.0,
    freq: str = "D",
    periods_per_month: float | None = None,
) -> FloatArray | pd.Series:
    """Discounted expected value of each customer's purchases over the next ``horizon`` months.

    Follows lifetimes' ``customer_lifetime_value``: with ``u`` model time units per month (``freq``: H, D,
    W or M give 720, 30, 4.345 or 1; or ``periods_per_month``),

        CLV = margin · E[spend] · Σ_{k=1}^{horizon} (E[Y(k u)] - E[Y((k-1) u)]) / (1 + discount_rate)^k

    where ``E[Y(t)]`` is ``model.expected_purchases(t, frequency, recency, T)``, the repeat purchases in the
    next ``t`` units (summed by ``model.discounted_purchases``), and
    ``E[spend]`` is ``spend_model.expected_spend(frequency, monetary_value)``, or ``monetary_value`` itself
    when ``spend_model`` is None. Purchases in month ``k`` are discounted by a full month ``k``;
    ``discount_rate`` is per month. With ``margin = 1`` this is revenue, not profit.

    Returns a Series with ``frequency``'s index when ``frequency`` is a Series, else an array.

    Examples
    --------
    >>> value = clv(bgnbd, gamma_gamma, df.frequency, df.recency, df["T"], df.monetary_value,
    ...             horizon=12, discount_rate=0.01, freq="W")  # doctest: +SKIP
    """
    if not isinstance(horizon, int | np.integer) or horizon < 0:
        raise ValueError(f"horizon must be a non-negative whole number of months, got {horizon!r}")
    if not discount_rate > -1:
        raise ValueError(f"discount_rate must be above -1, got {discount_rate!r}")
    unit = _periods_per_month(freq, periods_per_month)
    x, tx, t_obs = check_prediction_rft(frequency, recency, T)
    m = as_float_array("monetary_value", monetary_value, allow_nan=True)
    spend = np.broadcast_to(m if spend_model is None else spend_model.expected_spend(x, m), x.shape)
    months = np.arange(horizon + 1, dtype=np.float64)
    discount = (1.0 + discount_rate) ** -months[1:]
    purchases = model.discounted_purchases(months * unit, discount, x.ravel(), tx.ravel(), t_obs.ravel())
    purchases = purchases.reshape(x.shape)
    value = margin * spend * purchases
    pandas = sys.modules.get("pandas")  # a Series implies that pandas is imported
    if pandas is not None and isinstance(frequency, pandas.Series):
        series: pd.Series = pandas.Series(value, index=frequency.index, name="clv")
        return series
    return np.asarray(value, dtype=np.float64)


def _periods_per_month(freq: str, periods_per_month: float | None) -> float:
    if periods_per_month is not None:
        if not periods_per_month > 0:
            raise ValueError(f"periods_per_month must be positive, got {periods_per_month!r}")
        return float(periods_per_month)
    if freq not in PERIODS_PER_MONTH:
        raise ValueError(f"freq must be one of {sorted(PERIODS_PER_MONTH)}, got {freq!r}")
    return PERIODS_PER_MONTH[freq]
