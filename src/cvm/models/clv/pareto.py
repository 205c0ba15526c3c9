"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987), in the formulation of Fader & Hardie's note 009.

For a customer with ``x`` repeat purchases, the last at ``t_x``, observed for ``T``:

    L = Γ(r + x) α^r β^s / Γ(r) * [ (α + T)^-(r+x) (β + T)^-s + s I ],
    I = ∫_{t_x}^{T} (α + τ)^-(r+x) (β + τ)^-(s+1) dτ,

the integral over the unobserved dropout time τ. ``I`` has the closed form of note 009 eq. (19)-(20) in the
Gauss hypergeometric function; it is evaluated here after Euler's transformation, as
``2F1(1, a'; k + 1; z)`` (bounded by ``1/(1-z)``), so that it cannot overflow for large ``x``.

Derivatives of ``log I`` with respect to α and β are analytic (they are integrals of the same family);
those with respect to r and s, which enter the hypergeometric function's parameters, are central
differences of the closed form (relative error about 1e-9). Everything else is analytic.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, expit, gammaln, hyp2f1  # type: ignore[import-untyped]

from cvm.models.clv._data import FloatArray, wsum
from cvm.models.clv.purchase import ContinuousPurchaseModel, RFTData, check_rft, rate_start

_FD_STEP = 1e-5  # relative step of the central differences in r and s


def log_integral(p: FloatArray, q: FloatArray, alpha: float, beta: float, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """``log ∫_lo^hi (α+τ)^-p (β+τ)^-q dτ`` for ``p, q > 0``; ``-inf`` where ``lo == hi``.

    With ``k = p + q - 1``, ``m = max(α, β)`` and ``a'`` the exponent of the larger of α, β, the antiderivative
    is ``-G(τ)/k`` with ``G(τ) = (m+τ)^-k 2F1(k, b'; k+1; z) = (m+τ)^-k (1-z)^(1-b') 2F1(1, a'; k+1; z)``,
    ``z = |α-β| / (m+τ)`` and ``b' = p + q - a'``.
    """
    k = p + q - 1.0
    if alpha >= beta:
        m, a_exp, b_exp = alpha, p, q
    else:
        m, a_exp, b_exp = beta, q, p
    diff = abs(alpha - beta)

    def log_g(t: FloatArray) -> FloatArray:
        z = diff / (m + t)
        return np.asarray((1.0 - b_exp) * np.log1p(-z) + np.log(hyp2f1(1.0, a_exp, k + 1.0, z)) - k * np.log(m + t))

    with np.errstate(divide="ignore", invalid="ignore"):
        g_lo, g_hi = log_g(lo), log_g(hi)
        out = g_lo + np.log(-np.expm1(np.minimum(g_hi - g_lo, 0.0))) - np.log(k)
    return np.asarray(np.where(hi > lo, out, -np.inf), dtype=np.float64)


def _log_integral_grad(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, tx: FloatArray, age: FloatArray
) -> tuple[FloatArray, list[FloatArray]]:
    """``log I`` and its derivatives with respect to (r, α, s, β)."""
    p, q = r + x, np.full_like(x, s + 1.0)
    log_i = log_integral(p, q, alpha, beta, tx, age)
    finite = np.isfinite(log_i)
    safe = np.where(finite, log_i, 0.0)
    hp, hq = _FD_STEP * p, _FD_STEP * q
    d_p = (log_integral(p + hp, q, alpha, beta, tx, age) - log_integral(p - hp, q, alpha, beta, tx, age)) / (2 * hp)
    d_q = (log_integral(p, q + hq, alpha, beta, tx, age) - log_integral(p, q - hq, alpha, beta, tx, age)) / (2 * hq)
    d_alpha = -p * np.exp(log_integral(p + 1.0, q, alpha, beta, tx, age) - safe)
    d_beta = -q * np.exp(log_integral(p, q + 1.0, alpha, beta, tx, age) - safe)
    grads = [np.where(finite, g, 0.0) for g in (d_p, d_alpha, d_q, d_beta)]
    return log_i, grads


def _pow_term(s: float, u: FloatArray) -> FloatArray:
    """``(1 - (1+u)^-(s-1)) / (s-1)``, with its limit ``log(1+u)`` at ``s = 1``."""
    lu = np.log1p(u)
    if abs(s - 1.0) < 1e-12:
        return np.asarray(lu)
    return np.asarray(-np.expm1(-(s - 1.0) * lu) / (s - 1.0))


class ParetoNBD(ContinuousPurchaseModel):
    """Pareto/NBD: Poisson purchases at rate λ ~ Gamma(r, α) until an exponential dropout at rate μ ~ Gamma(s, β).

    Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). "Counting your customers: who are they and
    what will they do next?" *Management Science* 33(1), 1-24; likelihood and predictions as in Fader &
    Hardie (2005), "A note on deriving the Pareto/NBD model and related expressions" (note 009).

    ``log_likelihood_`` is the sum over customers of the log of note 009 eq. (18), in the data's time unit.

    Examples
    --------
    >>> model = ParetoNBD().fit(frequency, recency, T)  # doctest: +SKIP
    >>> model.expected_purchases(39, frequency=2, recency=30.43, T=38.86)  # doctest: +SKIP
    """

    param_names = ("r", "alpha", "s", "beta")
    exact_gradient = False  # the hypergeometric term is differentiated numerically

    def fit(
        self,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,  # noqa: N803
        weights: npt.ArrayLike | None = None,
    ) -> Self:
        """Fit by maximum likelihood on the distinct (frequency, recency, T) rows (arguments as for BetaGeo)."""
        d = RFTData.build(*check_rft(frequency, recency, T, weights))
        rate = rate_start(d)
        mean_t = max(float(wsum(d.w, d.age) / d.w.sum()), 1e-3)
        starts = [
            np.log([r, r / rate, s, b * mean_t])
            for r, s, b in ((1.0, 1.0, 1.0), (0.5, 0.5, 1.0), (2.0, 2.0, 4.0), (0.3, 0.3, 0.3), (1.0, 5.0, 10.0))
        ]
        sub = d.thinned()
        subsample = None
        if sub is not None:
            subsample = (lambda phi: self._negative_log_likelihood(phi, sub), float(sub.w.sum()))
        self._run_mle(lambda phi: self._negative_log_likelihood(phi, d), starts, float(d.w.sum()), len(d.x), subsample)
        return self

    @staticmethod
    def _negative_log_likelihood(phi: FloatArray, d: RFTData) -> tuple[float, FloatArray]:
        r, alpha, s, beta = np.exp(phi)
        ux = d.gx.values
        a1 = gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        g_r1 = digamma(r + ux) - digamma(r) + np.log(alpha)
        log_at = np.log(alpha + d.g_age.values)[d.g_age.index]
        log_bt = np.log(beta + d.g_age.values)[d.g_age.index]
        rx = r + d.x
        b1 = -rx * log_at - s * log_bt
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_i, (di_r, di_alpha, di_s, di_beta) = _log_integral_grad(r, alpha, s, beta, d.x, d.tx, d.age)
            b2 = np.log(s) + log_i
            omega = expit(b2 - b1)  # share of the likelihood from dropping out before T
        w, w_tot = d.w, float(d.w.sum())
        ll = float(wsum(d.wx, a1)) + float(wsum(w, np.logaddexp(b1, b2)))
        one = 1.0 - omega
        grad = np.array(
            [
                wsum(d.wx, g_r1) + wsum(w, -one * log_at + omega * di_r),
                w_tot * r / alpha + wsum(w, -one * rx / (alpha + d.age) + omega * di_alpha),
                w_tot * np.log(beta) + wsum(w, -one * log_bt + omega * (1.0 / s + di_s)),
                w_tot * s / beta + wsum(w, -one * s / (beta + d.age) + omega * di_beta),
            ]
        )
        return -ll, -grad * np.exp(phi)

    # ---------------------------------------------------------------- predictions
    def _p_alive(self, x: FloatArray, tx: FloatArray, age: FloatArray) -> FloatArray:
        """Note 009, eq. (36)-(37): 1 / (1 + s I (α+T)^(r+x) (β+T)^s)."""
        r, alpha, s, beta = self._theta()
        log_i = log_integral(r + x, np.full_like(x, s + 1.0), alpha, beta, tx, age)
        log_odds = np.log(s) + log_i + (r + x) * np.log(alpha + age) + s * np.log(beta + age)
        return np.asarray(expit(-log_odds), dtype=np.float64)

    def _given_alive(self, t: FloatArray, x: FloatArray, age: FloatArray) -> FloatArray:
        """Note 009, eq. (41) without P(alive): (r+x)(β+T) / ((α+T)(s-1)) [1 - ((β+T)/(β+T+t))^(s-1)]."""
        r, alpha, s, beta = self._theta()
        return np.asarray((r + x) * (beta + age) / (alpha + age) * _pow_term(s, t / (beta + age)), dtype=np.float64)
