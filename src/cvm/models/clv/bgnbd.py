"""BG/NBD (Fader, Hardie & Lee 2005) and the shared machinery of the beta-geometric family.

The modified BG/NBD (Batislam, Denizel & Filiztekin 2007) differs only in letting a customer drop out right
after the first purchase; both are written here with ``shift`` = 0 (BG/NBD) or 1 (MBG/NBD), where the
dropout process sees ``y = x + shift`` purchase events. For a customer with ``x`` repeat purchases, the last
at ``t_x``, observed for ``T``:

    L = B(a, b + y) / B(a, b) * Γ(r + x) α^r / (Γ(r) (α + T)^(r + x))
      + [y > 0] B(a + 1, b + y - 1) / B(a, b) * Γ(r + x) α^r / (Γ(r) (α + t_x)^(r + x))

which is evaluated in log space as in Hardie's note 004, with analytic derivatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln, hyp2f1  # type: ignore[import-untyped]

from cvm.models.clv._data import FloatArray, IntArray, map_slices, row_slices, wsum
from cvm.models.clv.purchase import ContinuousPurchaseModel, RFTData, check_rft, rate_start


@dataclass(frozen=True)
class _BGData:
    """The fitting data arranged for the BG/NBD likelihood: per-x and per-T aggregates, and the rows (those
    with ``y = x + shift > 0``) whose customers may have dropped out, as indices into the distinct values."""

    ux: FloatArray
    wx: FloatArray
    u_age: FloatArray
    w_age: FloatArray  # Σ w per distinct T
    wx_age: FloatArray  # Σ w x per distinct T
    u_tx: FloatArray
    x: FloatArray
    w: FloatArray
    i_x: IntArray
    i_age: IntArray
    i_tx: IntArray
    w_tot: float
    slices: list[slice]  # of the dropout rows, one per thread

    @classmethod
    def build(cls, d: RFTData, shift: int) -> _BGData:
        n_age = len(d.g_age.values)
        w_age = np.bincount(d.g_age.index, weights=d.w, minlength=n_age)
        wx_age = np.bincount(d.g_age.index, weights=d.w * d.x, minlength=n_age)
        rows = d.x + shift > 0
        return cls(
            d.gx.values,
            d.wx,
            d.g_age.values,
            np.asarray(w_age, dtype=np.float64),
            np.asarray(wx_age, dtype=np.float64),
            d.gtx.values,
            d.x[rows],
            d.w[rows],
            d.gx.index[rows],
            d.g_age.index[rows],
            d.gtx.index[rows],
            float(d.w.sum()),
            row_slices(int(rows.sum())),
        )


def _total(values: FloatArray) -> float:
    """``Σ values``, as :func:`~cvm.models.clv._data.wsum` sums its products (no BLAS)."""
    return float(np.add.reduce(values, axis=None))


class BetaGeoFamily(ContinuousPurchaseModel):
    """Shared fitting and predictions of BG/NBD and MBG/NBD (see the module docstring)."""

    param_names = ("r", "alpha", "a", "b")
    shift: ClassVar[int] = 0
    closed_form_alive = True

    def fit(
        self,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,  # noqa: N803
        weights: npt.ArrayLike | None = None,
    ) -> Self:
        """Fit by maximum likelihood on the distinct (frequency, recency, T) rows.

        Parameters
        ----------
        frequency : array_like
            Repeat purchases ``x`` (whole numbers).
        recency : array_like
            Time from the first to the last purchase ``t_x`` (0 when ``x`` is 0).
        T : array_like
            Time from the first purchase to the end of observation, in the same unit.
        weights : array_like, optional
            Number of customers each row stands for; 1 each when omitted.
        """
        d = RFTData.build(*check_rft(frequency, recency, T, weights))
        rate = rate_start(d)
        starts = [
            np.log([r, r / rate, a, b])
            for r, a, b in ((1.0, 1.0, 3.0), (0.25, 0.8, 2.5), (3.0, 2.0, 8.0), (0.5, 0.3, 0.5), (1.0, 5.0, 30.0))
        ]
        data = _BGData.build(d, self.shift)
        sub = d.thinned()
        subsample = None
        if sub is not None:
            sub_data = _BGData.build(sub, self.shift)
            subsample = (lambda phi: self._negative_log_likelihood(phi, sub_data), float(sub.w.sum()))
        objective = lambda phi: self._negative_log_likelihood(phi, data)  # noqa: E731
        self._run_mle(objective, starts, float(d.w.sum()), len(d.x), subsample)
        return self

    def _negative_log_likelihood(self, phi: FloatArray, d: _BGData) -> tuple[float, FloatArray]:
        r, alpha, a, b = np.exp(phi)
        uy = d.ux + self.shift
        # Terms of the distinct x values: log[Γ(r+x) α^r / Γ(r)] + log[B(a, b+y) / B(a, b)] and derivatives.
        a12 = gammaln(r + d.ux) - gammaln(r) + r * np.log(alpha) + gammaln(a + b) + gammaln(b + uy)
        a12 -= gammaln(b) + gammaln(a + b + uy)
        g_a = digamma(a + b) - digamma(a + b + uy)
        g_b = g_a + digamma(b + uy) - digamma(b)
        bym1 = np.where(uy > 0, b + uy - 1.0, 1.0)
        # A3 = -(r+x) log(α+T), aggregated over the distinct T values.
        log_at, inv_at = np.log(alpha + d.u_age), 1.0 / (alpha + d.u_age)
        coef_t = r * d.w_age + d.wx_age
        log_odds_x = np.log(a) - np.log(bym1)
        # The rows' logs and inverses of (α + T) and (α + t_x) are gathered from the few distinct values.
        at_terms = (log_at, inv_at, np.log(alpha + d.u_tx), 1.0 / (alpha + d.u_tx))
        parts = map_slices(lambda rows: self._dropout_terms(d, rows, r, at_terms, log_odds_x), d.slices)
        softplus = sum(p[0] for p in parts)
        s_x = np.sum([p[1] for p in parts], axis=0)  # row_slices gives at least one slice
        ll = wsum(d.wx, a12) - wsum(coef_t, log_at) + softplus
        grad = np.array(
            [
                wsum(d.wx, digamma(r + d.ux) - digamma(r) + np.log(alpha))
                - wsum(d.w_age, log_at)
                + sum(p[2] for p in parts),
                d.w_tot * r / alpha - wsum(coef_t, inv_at) + sum(p[3] for p in parts),
                wsum(d.wx, g_a) + float(np.sum(s_x)) / a,
                wsum(d.wx, g_b) - wsum(s_x, np.where(uy > 0, 1.0 / bym1, 0.0)),
            ]
        )
        return -float(ll), -grad * np.exp(phi)

    @staticmethod
    def _dropout_terms(
        d: _BGData,
        rows: slice,
        r: float,
        at_terms: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
        log_odds_x: FloatArray,
    ) -> tuple[float, FloatArray, float, float]:
        """Sum and derivative parts of the rows that may have dropped out, ``rows`` of them.

        log(e^A3 + e^A4) - A3 = softplus(A4 - A3), with A4 - A3 = log a - log(b+y-1) + (r+x) log((α+T)/(α+t_x)).
        ``at_terms``: log(α + T), 1/(α + T), log(α + t_x) and 1/(α + t_x) of the distinct T and t_x values.
        """
        log_at, inv_at, log_atx, inv_atx = at_terms
        i_x, w, i_age, i_tx = d.i_x[rows], d.w[rows], d.i_age[rows], d.i_tx[rows]
        # The same operations as the formulas above, on few arrays updated in place (each fresh one costs more
        # than its arithmetic here).
        dlog = log_at[i_age]
        dlog -= log_atx[i_tx]
        rx = d.x[rows] + r
        diff = rx * dlog
        diff += log_odds_x[i_x]
        e = np.abs(diff)
        np.negative(e, out=e)
        np.exp(e, out=e)  # e^-|diff|
        softplus = np.log1p(e)
        softplus += np.maximum(diff, 0.0)
        ww4 = np.where(diff >= 0, 1.0, e)
        ww4 *= w
        e += 1.0
        ww4 /= e  # weight x share of the "dropped out" term
        s_x = np.asarray(np.bincount(i_x, weights=ww4, minlength=len(log_odds_x)), dtype=np.float64)
        softplus *= w
        dlog *= ww4
        inv = inv_at[i_age]
        inv -= inv_atx[i_tx]
        inv *= rx
        inv *= ww4
        return _total(softplus), s_x, _total(dlog), _total(inv)

    # ---------------------------------------------------------------- predictions
    def _log_odds_dead(self, x: FloatArray, tx: FloatArray, age: FloatArray) -> FloatArray:
        """log of a/(b+y-1) ((α+T)/(α+t_x))^(r+x): the odds that the customer has dropped out (-inf if y=0)."""
        r, alpha, a, b = self._theta()
        y = x + self.shift
        odds = np.asarray(np.log(alpha + age), dtype=np.float64)  # per row: few arrays, updated in place
        odds -= np.log(alpha + tx)
        odds *= r + x
        odds += np.log(a) - np.log(b + y - 1.0)
        odds[y <= 0] = -np.inf
        return odds

    def _p_alive(self, x: FloatArray, tx: FloatArray, age: FloatArray) -> FloatArray:
        # 1 / (1 + odds): NumPy's vectorised exp, several times faster than scipy's expit on long arrays
        alive = self._log_odds_dead(x, tx, age)
        np.exp(alive, out=alive)
        alive += 1.0
        return np.asarray(np.reciprocal(alive, out=alive), dtype=np.float64)

    def _given_alive(self, t: FloatArray, x: FloatArray, age: FloatArray) -> FloatArray:
        r, alpha, a, b = self._theta()
        c = a + b + x + self.shift - 1.0
        z = t / (alpha + age + t)
        # (1-z)^(r+x) 2F1(r+x, b+y; c; z), Euler-transformed to (1-z)^(a-1) 2F1(c-r-x, a-1; c; z): no overflow.
        log_1mz = -np.log1p(t / (alpha + age))
        bracket = 1.0 - np.exp((a - 1.0) * log_1mz) * hyp2f1(c - r - x, a - 1.0, c, z)
        return np.asarray(c / (a - 1.0) * bracket, dtype=np.float64)


class BetaGeo(BetaGeoFamily):
    """BG/NBD: Pareto/NBD's purchase process with beta-geometric dropout after each repeat purchase.

    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers the easy way: an alternative
    to the Pareto/NBD model". *Marketing Science* 24(2), 275-284. Purchases follow a Poisson process with
    rate λ ~ Gamma(r, α); after each repeat purchase the customer drops out with probability p ~ Beta(a, b).

    ``log_likelihood_`` is the paper's: the sum over customers of the log of eq. (6), in the time unit of the
    data (lifetimes rescales time and reports a mean, so its figure differs by a constant).

    Examples
    --------
    With ``summary`` from :func:`cvm.features.rfm.rfm_summary` (one row per customer):

    >>> model = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])  # doctest: +SKIP
    >>> model.summary()  # doctest: +SKIP
    >>> model.expected_purchases(39, frequency=2, recency=30.43, T=38.86)  # doctest: +SKIP
    array(1.2259...)
    >>> model.probability_alive(summary["frequency"], summary["recency"], summary["T"])  # doctest: +SKIP
    """
