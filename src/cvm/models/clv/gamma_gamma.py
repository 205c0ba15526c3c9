"""Gamma-Gamma model of mean spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV")."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Self

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln  # type: ignore[import-untyped]

from cvm.models.clv._data import (
    FloatArray,
    as_float_array,
    check_integer,
    check_non_negative,
    columns_1d,
    compress,
    fit_weights,
    thin,
    wsum,
)
from cvm.models.clv.base import ClvModel


class GammaGamma(ClvModel):
    """Spend per transaction z ~ Gamma(p, ν), with ν ~ Gamma(q, γ) across customers.

    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "RFM and CLV: using iso-value curves for customer
    base analysis". *Journal of Marketing Research* 42(4), 415-430; Fader & Hardie (2013), "The Gamma-Gamma
    model of monetary value" (note 025). The parameters are ``p``, ``q`` and ``gamma`` (γ, lifetimes' ``v``).

    Fitting uses customers with at least one repeat purchase and a positive mean spend: the model's support.
    Other rows (frequency 0, or zero / negative mean spend, e.g. after refunds) are excluded, counted in
    ``n_excluded_`` and reported in a ``UserWarning``. The model assumes spend independent of frequency;
    check that assumption (e.g. their correlation) before use.

    ``log_likelihood_`` is the sum over customers of the log density of the mean spend ``m`` given ``x``
    (note 025, eq. 1a).

    Examples
    --------
    With ``summary`` from :func:`cvm.features.rfm.rfm_summary` (frequency 0 rows are excluded, with a warning):

    >>> gg = GammaGamma().fit(summary["frequency"], summary["monetary_value"])  # doctest: +SKIP
    >>> gg.expected_spend(summary["frequency"], summary["monetary_value"])  # doctest: +SKIP
    """

    param_names = ("p", "q", "gamma")
    n_excluded_: int

    def fit(
        self, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike, weights: npt.ArrayLike | None = None
    ) -> Self:
        """Fit by maximum likelihood on the distinct (frequency, monetary_value) rows.

        Parameters
        ----------
        frequency : array_like
            Repeat purchases ``x`` (whole numbers).
        monetary_value : array_like
            Mean spend of the repeat purchases ``m``; may be NaN where frequency is 0.
        weights : array_like, optional
            Number of customers each row stands for; 1 each when omitted.
        """
        x, m = columns_1d([("frequency", frequency), ("monetary_value", monetary_value)], allow_nan=["monetary_value"])
        check_non_negative("frequency", x)
        check_integer("frequency", x)
        stray = np.isnan(m) & (x > 0)
        if stray.any():
            raise ValueError(f"monetary_value is NaN in {int(stray.sum())} row(s) with repeat purchases")
        w = fit_weights(weights, len(x))
        keep = self._exclude(x, m)
        if not keep.any():
            raise ValueError("no customer has both a repeat purchase and a positive monetary_value: nothing to fit")
        (ux, um), uw = compress([x[keep], m[keep]], w[keep])
        d = _SpendData.build(ux, um, uw)
        mean = float(wsum(uw, um) / uw.sum())
        starts = [np.log([p, q, mean * (q - 1.0) / p]) for p, q in ((2.0, 3.0), (6.0, 4.0), (1.0, 1.5), (0.5, 2.0))]
        sub = thin(uw)
        subsample = None
        if sub is not None:
            kept, sub_w = sub
            subsample = (_SpendData.build(ux[kept], um[kept], sub_w).negative_log_likelihood, float(sub_w.sum()))
        self._run_mle(d.negative_log_likelihood, starts, float(uw.sum()), len(ux), subsample)
        return self

    def _exclude(self, x: FloatArray, m: FloatArray) -> npt.NDArray[np.bool_]:
        no_repeat = x == 0
        non_positive = ~no_repeat & (m <= 0)
        self.n_excluded_ = int(no_repeat.sum() + non_positive.sum())
        if self.n_excluded_:
            warnings.warn(
                f"GammaGamma excluded {self.n_excluded_} of {len(x)} rows: {int(no_repeat.sum())} with frequency 0 "
                f"(no repeat purchase) and {int(non_positive.sum())} with zero or negative monetary_value",
                UserWarning,
                stacklevel=3,
            )
        return np.asarray(~(no_repeat | non_positive), dtype=np.bool_)

    def expected_spend(self, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike) -> FloatArray:
        """Expected mean spend per future transaction given ``x`` purchases of mean ``m`` (note 025, eq. 5).

        ``E[Z | x, m] = (1 - w) p γ / (q - 1) + w m`` with ``w = p x / (p x + q - 1)``. Customers without
        usable spend history (frequency 0, or ``m`` zero, negative or NaN) get the population mean
        ``p γ / (q - 1)``. Raises when ``q <= 1``: the population mean is then infinite.
        """
        p, q, gamma = self._theta()
        if q <= 1.0:
            raise ValueError(f"q = {q:.4g} <= 1: the model's population mean spend is infinite")
        x = as_float_array("frequency", frequency)
        m = as_float_array("monetary_value", monetary_value, allow_nan=True)
        check_non_negative("frequency", x)
        x, m = np.broadcast_arrays(x, m)
        population = p * gamma / (q - 1.0)
        usable = (x > 0) & (m > 0)
        weight = np.where(usable, p * x / (p * x + q - 1.0), 0.0)
        return np.asarray((1.0 - weight) * population + weight * np.where(usable, m, 0.0), dtype=np.float64)


@dataclass(frozen=True)
class _SpendData:
    """Sufficient statistics of the Gamma-Gamma likelihood: per-x sums, plus ``x m`` and weights per row."""

    ux: FloatArray  # distinct x
    wx: FloatArray  # total weight per distinct x
    xm: FloatArray  # x * m per row
    w: FloatArray
    w_x: FloatArray  # w * x per row
    s_p: float  # sum w x (log m + log x): the coefficient of p
    s_0: float  # sum w log m

    @classmethod
    def build(cls, x: FloatArray, m: FloatArray, w: FloatArray) -> _SpendData:
        ux, idx = np.unique(x, return_inverse=True)
        wx = np.asarray(np.bincount(idx, weights=w, minlength=len(ux)), dtype=np.float64)
        log_m = np.log(m)
        s_p = float(wsum(w * x, log_m + np.log(x)))
        return cls(ux, wx, x * m, w, w * x, s_p, float(wsum(w, log_m)))

    def negative_log_likelihood(self, phi: FloatArray) -> tuple[float, FloatArray]:
        """Total NLL and its gradient in log-parameters."""
        p, q, gamma = np.exp(phi)
        px = p * self.ux
        w_tot = float(self.wx.sum())
        log_xm = np.log(self.xm + gamma)
        inv_xm = 1.0 / (self.xm + gamma)
        sum_wx_log, sum_w_log = float(wsum(self.w_x, log_xm)), float(wsum(self.w, log_xm))
        ll = (
            float(wsum(self.wx, gammaln(px + q) - gammaln(px)))
            - w_tot * (gammaln(q) - q * np.log(gamma))
            + p * self.s_p
            - self.s_0
            - p * sum_wx_log
            - q * sum_w_log
        )
        grad = np.array(
            [
                float(wsum(self.wx * self.ux, digamma(px + q) - digamma(px))) + self.s_p - sum_wx_log,
                float(wsum(self.wx, digamma(px + q))) - w_tot * (digamma(q) - np.log(gamma)) - sum_w_log,
                w_tot * q / gamma - p * float(wsum(self.w_x, inv_xm)) - q * float(wsum(self.w, inv_xm)),
            ]
        )
        return -ll, -grad * np.exp(phi)
