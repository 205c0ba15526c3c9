"""Shifted beta-geometric (sBG) model of contractual retention (Fader & Hardie 2007)."""

from __future__ import annotations

from typing import Self

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, digamma, hyp2f1  # type: ignore[import-untyped]

from cvm.models.clv._data import (
    FloatArray,
    as_float_array,
    broadcast_inputs,
    check_integer,
    check_non_negative,
    columns_1d,
    compress,
    fit_weights,
    wsum,
)
from cvm.models.clv.base import ClvModel


class ShiftedBetaGeometric(ClvModel):
    """Each customer renews every period with probability 1 - θ, with θ ~ Beta(α, β) across customers.

    Fader, P. S. & Hardie, B. G. S. (2007). "How to project customer retention". *Journal of Interactive
    Marketing* 21(1), 76-90; residual lifetime value from Fader & Hardie (2010), "Customer-base valuation in
    a contractual setting: the perils of ignoring heterogeneity", *Marketing Science* 29(1), 85-93.

    The lifetime ``T`` (in periods, ``T >= 1``) has ``P(T = t) = B(α+1, β+t-1) / B(α, β)`` and survival
    ``S(t) = P(T > t) = B(α, β+t) / B(α, β)``. A customer who churned contributes ``P(T = tenure)``; one
    still active after ``tenure`` periods contributes ``S(tenure)``. ``log_likelihood_`` is the sum of their logs.

    Examples
    --------
    >>> model = ShiftedBetaGeometric().fit_survival([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> round(model.params_["alpha"], 3), round(model.params_["beta"], 3)
    (0.704, 1.182)
    >>> round(float(model.survival(8)), 3)  # share still active after 8 periods
    0.22
    """

    param_names = ("alpha", "beta")

    def fit(self, tenure: npt.ArrayLike, churned: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> Self:
        """Fit on individual customers.

        Parameters
        ----------
        tenure : array_like
            Periods each customer has been active: the lifetime ``T`` of a churned customer (``>= 1``), or the
            periods survived so far of an active (censored) one (``>= 0``).
        churned : array_like of bool
            True when the customer has churned, False when still active (censored).
        weights : array_like, optional
            Number of customers each row stands for.
        """
        t, c = columns_1d([("tenure", tenure), ("churned", churned)])
        check_non_negative("tenure", t)
        check_integer("tenure", t)
        if not np.isin(c, (0.0, 1.0)).all():
            raise ValueError("churned must be boolean (True = churned, False = still active)")
        if ((c == 1.0) & (t < 1)).any():
            raise ValueError("tenure must be at least 1 for churned customers (a lifetime counts whole periods)")
        (t, c), w = compress([t, c], fit_weights(weights, len(t)))
        starts = [np.log(s) for s in ((1.0, 1.0), (0.5, 2.0), (2.0, 5.0), (0.3, 0.3), (5.0, 20.0))]
        self._run_mle(lambda phi: self._negative_log_likelihood(phi, t, c, w), starts, float(w.sum()), len(t))
        return self

    def fit_survival(self, alive_counts: npt.ArrayLike) -> Self:
        """Fit on one cohort's survival counts.

        ``alive_counts[0]`` is the cohort size and ``alive_counts[k]`` the number still active at the start of
        period ``k + 1`` (having survived ``k`` periods), as in Fader & Hardie (2007), Table 1.
        """
        counts = np.atleast_1d(as_float_array("alive_counts", alive_counts))
        if counts.ndim != 1 or len(counts) < 2:
            raise ValueError("alive_counts needs the cohort size and at least one later count")
        check_non_negative("alive_counts", counts)
        if not counts[0] > 0 or (np.diff(counts) > 0).any():
            raise ValueError("alive_counts must start positive and never increase")
        k = len(counts) - 1
        lost = -np.diff(counts)
        tenure = np.append(np.arange(1.0, k + 1.0), float(k))
        churned = np.append(np.ones(k), 0.0)
        return self.fit(tenure, churned, weights=np.append(lost, counts[-1]))

    @staticmethod
    def _negative_log_likelihood(
        phi: FloatArray, t: FloatArray, c: FloatArray, w: FloatArray
    ) -> tuple[float, FloatArray]:
        alpha, beta = np.exp(phi)
        churn = c == 1.0
        # churned: B(α+1, β+t-1); active: B(α, β+t). Both over B(α, β).
        a_term = np.where(churn, alpha + 1.0, alpha)
        b_term = np.where(churn, beta + t - 1.0, beta + t)
        ll = float(wsum(w, betaln(a_term, b_term))) - float(w.sum()) * betaln(alpha, beta)
        psi_sum = digamma(alpha + beta + t)
        d_alpha = digamma(a_term) - psi_sum - digamma(alpha) + digamma(alpha + beta)
        d_beta = digamma(b_term) - psi_sum - digamma(beta) + digamma(alpha + beta)
        grad = np.array([wsum(w, d_alpha), wsum(w, d_beta)])
        return -ll, -grad * np.array([alpha, beta])

    def _periods(self, name: str, value: npt.ArrayLike, minimum: float) -> FloatArray:
        self._check_fitted()
        (arr,) = broadcast_inputs([(name, value)])
        check_integer(name, arr)
        if (arr < minimum).any():
            raise ValueError(f"{name} must be at least {minimum:g}")
        return arr

    def survival(self, t: npt.ArrayLike) -> FloatArray:
        """``S(t)``: the share of a new cohort still active after ``t`` periods (eq. 7 of FH 2007)."""
        tt = self._periods("t", t, 0)
        alpha, beta = self._theta()
        return np.asarray(np.exp(betaln(alpha, beta + tt) - betaln(alpha, beta)), dtype=np.float64)

    def retention_rate(self, t: npt.ArrayLike) -> FloatArray:
        """``r(t) = S(t) / S(t-1) = (β+t-1) / (α+β+t-1)``: the share of period ``t-1`` survivors who renew."""
        tt = self._periods("t", t, 1)
        alpha, beta = self._theta()
        return np.asarray((beta + tt - 1.0) / (alpha + beta + tt - 1.0), dtype=np.float64)

    def churn_probability(self, t: npt.ArrayLike) -> FloatArray:
        """``P(T = t)``: the probability that a new customer's lifetime is exactly ``t`` periods (eq. 6).

        The conditional churn rate of period-``t`` survivors is ``1 - retention_rate(t + 1)``.
        """
        tt = self._periods("t", t, 1)
        alpha, beta = self._theta()
        return np.asarray(np.exp(betaln(alpha + 1.0, beta + tt - 1.0) - betaln(alpha, beta)), dtype=np.float64)

    def discounted_expected_residual_lifetime(self, n_periods: npt.ArrayLike, discount_rate: float) -> FloatArray:
        """DERL of a customer active for ``n_periods`` (``n-1`` renewals), just before the next renewal decision.

        Fader & Hardie (2010), eq. (6): ``DERL = Σ_{t≥n} S(t)/S(n-1) / (1+d)^(t-n)
        = (β+n-1)/(α+β+n-1) · 2F1(1, β+n; α+β+n; 1/(1+d))``. Multiply by the payment per period for the
        discounted expected residual value. Requires ``discount_rate > 0``.
        """
        n = self._periods("n_periods", n_periods, 1)
        if not discount_rate > 0:
            raise ValueError(f"discount_rate must be positive, got {discount_rate!r}")
        alpha, beta = self._theta()
        first = (beta + n - 1.0) / (alpha + beta + n - 1.0)
        return np.asarray(
            first * hyp2f1(1.0, beta + n, alpha + beta + n, 1.0 / (1.0 + discount_rate)), dtype=np.float64
        )

    def expected_remaining_lifetime(self, n_periods: npt.ArrayLike) -> FloatArray:
        """Expected further renewals of a customer active for ``n_periods``: ``E[T - n | T >= n]``.

        Equals ``(β+n-1)/(α-1)`` (the undiscounted DERL); infinite when ``α <= 1``, where the heavy tail of
        long-lived customers has no finite mean.
        """
        n = self._periods("n_periods", n_periods, 1)
        alpha, beta = self._theta()
        if alpha <= 1.0:
            return np.full_like(n, np.inf)
        return np.asarray((beta + n - 1.0) / (alpha - 1.0), dtype=np.float64)
