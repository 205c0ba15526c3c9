"""BG/BB: beta-geometric/beta-Bernoulli model of discrete transaction opportunities (Fader, Hardie & Shang 2010).

With ``n`` opportunities, ``x`` transactions and the last at opportunity ``t_x``, eq. (5) of the paper is

    L = B(α+x, β+n-x)/B(α,β) · B(γ, δ+n)/B(γ,δ)
      + Σ_{i=0}^{n-t_x-1} B(α+x, β+t_x-x+i)/B(α,β) · B(γ+1, δ+t_x+i)/B(γ,δ),

evaluated as a log-sum-exp over its terms (one matrix column per term), with analytic derivatives.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, digamma, gammaln, softmax  # type: ignore[import-untyped]

from cvm.models.clv._data import (
    FloatArray,
    broadcast_inputs,
    check_integer,
    check_le,
    check_non_negative,
    columns_1d,
    compress,
    fit_weights,
    per_unique_row,
    wsum,
)
from cvm.models.clv.base import ClvModel


def _check_discrete(x: FloatArray, tx: FloatArray, n: FloatArray) -> None:
    for name, arr in (("frequency", x), ("recency", tx), ("n_periods", n)):
        check_non_negative(name, arr)
        check_integer(name, arr)
    check_le("frequency", x, "recency", np.where(x > 0, tx, x))
    check_le("recency", tx, "n_periods", n)
    if ((x == 0) & (tx != 0)).any():
        raise ValueError("recency must be 0 when frequency is 0")


def _terms(theta: FloatArray, x: FloatArray, tx: FloatArray, n: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Log of every term of eq. (5) before dividing by B(α,β) B(γ,δ): shape (rows, 1 + max(n - t_x)).

    Column 0 is "alive through n"; column 1 + i is "dropped out at opportunity t_x + i + 1". Also returns the
    death opportunity index ``j = t_x + i`` of each column (NaN in column 0 and where the term does not exist).
    """
    alpha, beta, gamma, delta = theta
    width = int(np.max(n - tx)) if x.size else 0
    j = tx[:, None] + np.arange(width)[None, :]
    valid = j < n[:, None]
    j = np.where(valid, j, np.nan)
    with np.errstate(invalid="ignore"):
        die = betaln(alpha + x[:, None], beta + j - x[:, None]) + betaln(gamma + 1.0, delta + j)
    alive = betaln(alpha + x, beta + n - x) + betaln(gamma, delta + n)
    logs = np.column_stack([alive, np.where(valid, die, -np.inf)])
    return logs, np.column_stack([np.full_like(x, np.nan), j])


def log_likelihood_rows(theta: FloatArray, x: FloatArray, tx: FloatArray, n: FloatArray) -> FloatArray:
    """log L per row (eq. 5)."""
    alpha, beta, gamma, delta = theta
    logs, _ = _terms(theta, x, tx, n)
    top = np.max(logs, axis=1)
    total = top + np.log(np.sum(np.exp(logs - top[:, None]), axis=1))
    return np.asarray(total - betaln(alpha, beta) - betaln(gamma, delta), dtype=np.float64)


def _negative_log_likelihood(
    phi: FloatArray, x: FloatArray, tx: FloatArray, n: FloatArray, w: FloatArray
) -> tuple[float, FloatArray]:
    theta = np.exp(phi)
    alpha, beta, gamma, delta = theta
    logs, j = _terms(theta, x, tx, n)
    share = softmax(logs, axis=1)  # weight of each term in L
    s_alive, s_die = share[:, 0], share[:, 1:]
    jj = np.nan_to_num(j[:, 1:])
    psi_ab, psi_gd = digamma(alpha + beta), digamma(gamma + delta)
    d_alpha = (
        digamma(alpha + x) - s_alive * digamma(alpha + beta + n) - np.sum(s_die * digamma(alpha + beta + jj), axis=1)
    )
    d_beta = (
        s_alive * digamma(beta + n - x)
        + np.sum(s_die * digamma(beta + np.maximum(jj - x[:, None], 0.0)), axis=1)
        - s_alive * digamma(alpha + beta + n)
        - np.sum(s_die * digamma(alpha + beta + jj), axis=1)
    )
    d_gamma = s_alive * (digamma(gamma) - digamma(gamma + delta + n)) + np.sum(
        s_die * (digamma(gamma + 1.0) - digamma(gamma + delta + 1.0 + jj)), axis=1
    )
    d_delta = s_alive * (digamma(delta + n) - digamma(gamma + delta + n)) + np.sum(
        s_die * (digamma(delta + jj) - digamma(gamma + delta + 1.0 + jj)), axis=1
    )
    w_tot = float(w.sum())
    grad = np.array(
        [
            wsum(w, d_alpha) + w_tot * (psi_ab - digamma(alpha)),
            wsum(w, d_beta) + w_tot * (psi_ab - digamma(beta)),
            wsum(w, d_gamma) + w_tot * (psi_gd - digamma(gamma)),
            wsum(w, d_delta) + w_tot * (psi_gd - digamma(delta)),
        ]
    )
    ll = float(wsum(w, log_likelihood_rows(theta, x, tx, n)))
    return -ll, -grad * theta


class BetaGeoBetaBinom(ClvModel):
    """BG/BB: at each opportunity an active customer transacts with probability p ~ Beta(α, β) and then may
    drop out with probability θ ~ Beta(γ, δ).

    Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). "Customer-base analysis in a discrete-time
    noncontractual setting". *Marketing Science* 29(6), 1086-1108. Arguments follow lifetimes: ``frequency``
    ``x``, ``recency`` ``t_x`` (the opportunity of the last transaction) and ``n_periods`` ``n``.

    ``log_likelihood_`` is the sum over customers of the log of eq. (5).

    Examples
    --------
    >>> model = BetaGeoBetaBinom().fit(frequency, recency, n_periods, weights=counts)  # doctest: +SKIP
    >>> model.expected_purchases(5, frequency=3, recency=4, n_periods=6)  # doctest: +SKIP
    """

    param_names = ("alpha", "beta", "gamma", "delta")

    def fit(
        self,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        n_periods: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
    ) -> Self:
        """Fit by maximum likelihood on the distinct (frequency, recency, n_periods) rows."""
        x, tx, n = columns_1d([("frequency", frequency), ("recency", recency), ("n_periods", n_periods)])
        _check_discrete(x, tx, n)
        (x, tx, n), w = compress([x, tx, n], fit_weights(weights, len(x)))
        starts = [
            np.log(s) for s in ((1.0, 1.0, 1.0, 1.0), (0.5, 1.0, 0.5, 3.0), (2.0, 2.0, 2.0, 2.0), (0.3, 0.3, 0.3, 0.3))
        ]
        self._run_mle(lambda phi: _negative_log_likelihood(phi, x, tx, n, w), starts, float(w.sum()), len(x))
        return self

    def _inputs(
        self,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        n_periods: npt.ArrayLike,
        *extra: tuple[str, npt.ArrayLike],
    ) -> list[FloatArray]:
        self._check_fitted()
        arrays = broadcast_inputs([*extra, ("frequency", frequency), ("recency", recency), ("n_periods", n_periods)])
        x, tx, n = (a.ravel() for a in arrays[-3:])
        _check_discrete(x, tx, n)
        return arrays

    def _log_l(self, x: FloatArray, tx: FloatArray, n: FloatArray) -> FloatArray:
        return log_likelihood_rows(np.array(self._theta()), x.ravel(), tx.ravel(), n.ravel()).reshape(x.shape)

    def expected_purchases(
        self, n_future: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, n_periods: npt.ArrayLike
    ) -> FloatArray:
        """Expected transactions in the next ``n_future`` opportunities given (x, t_x, n) (eq. 13)."""
        m, x, tx, n = self._inputs(frequency, recency, n_periods, ("n_future", n_future))
        alpha, beta, gamma, delta = self._theta()
        log_pre = betaln(alpha + x + 1.0, beta + n - x) - betaln(alpha, beta) - self._log_l(x, tx, n)
        log_c = gammaln(gamma + delta) - gammaln(1.0 + delta)
        now = np.exp(log_c + gammaln(1.0 + delta + n) - gammaln(gamma + delta + n))
        later = np.exp(log_c + gammaln(1.0 + delta + n + m) - gammaln(gamma + delta + n + m))
        return np.asarray(np.exp(log_pre) * delta / (gamma - 1.0) * (now - later), dtype=np.float64)

    def cumulative_purchases(
        self, times: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, n_periods: npt.ArrayLike
    ) -> FloatArray:
        """``expected_purchases(m, ...)`` for each ``m`` in ``times`` (whole opportunities), stacked."""
        (grid,) = broadcast_inputs([("times", times)])
        x, tx, n = self._inputs(frequency, recency, n_periods)
        return np.stack([self.expected_purchases(m, x, tx, n) for m in grid.ravel()])

    def discounted_purchases(
        self,
        times: npt.ArrayLike,
        weights: npt.ArrayLike,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        n_periods: npt.ArrayLike,
    ) -> FloatArray:
        """``Σ_k weights[k-1] (E[X(times[k])] - E[X(times[k-1])])`` per customer (see :func:`~cvm.models.clv.clv`).

        Evaluated once per distinct (x, t_x, n) history.
        """
        (w,) = broadcast_inputs([("weights", weights)])
        x, tx, n = self._inputs(frequency, recency, n_periods)

        def per_history(ux: FloatArray, utx: FloatArray, un: FloatArray) -> FloatArray:
            cumulative = self.cumulative_purchases(times, ux, utx, un)
            return np.asarray(np.sum(w[:, None] * np.diff(cumulative, axis=0), axis=0), dtype=np.float64)

        return per_unique_row(per_history, [x.ravel(), tx.ravel(), n.ravel()]).reshape(x.shape)

    def probability_alive(
        self, frequency: npt.ArrayLike, recency: npt.ArrayLike, n_periods: npt.ArrayLike, n_future: npt.ArrayLike = 0
    ) -> FloatArray:
        """Probability of being active at opportunity ``n + n_future`` given (x, t_x, n) (eq. 11 is ``n_future=1``).

        ``n_future = 0`` (the default) is the probability of having survived the ``n`` observed opportunities,
        lifetimes' ``m_periods_in_future`` convention.
        """
        m, x, tx, n = self._inputs(frequency, recency, n_periods, ("n_future", n_future))
        alpha, beta, gamma, delta = self._theta()
        log_p = (
            betaln(alpha + x, beta + n - x) - betaln(alpha, beta) + betaln(gamma, delta + n + m) - betaln(gamma, delta)
        )
        return np.asarray(np.exp(log_p - self._log_l(x, tx, n)), dtype=np.float64)

    def expected_purchases_new_customer(self, n_periods: npt.ArrayLike) -> FloatArray:
        """Expected transactions in the first ``n_periods`` opportunities of a new customer (eq. 8)."""
        self._check_fitted()
        (n,) = broadcast_inputs([("n_periods", n_periods)])
        alpha, beta, gamma, delta = self._theta()
        ratio = np.exp(
            gammaln(gamma + delta) - gammaln(gamma + delta + n) + gammaln(1.0 + delta + n) - gammaln(1.0 + delta)
        )
        return np.asarray(alpha / (alpha + beta) * delta / (gamma - 1.0) * (1.0 - ratio), dtype=np.float64)
