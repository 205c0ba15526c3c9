"""What the continuous-time purchase models share: input checks, unique-row data and predictions.

Each model supplies ``_p_alive(x, t_x, T)``, the probability of being active at ``T``, and
``_given_alive(t, x, T)``, the expected purchases in the next ``t`` of a customer active at ``T``; for
BG/NBD, MBG/NBD and Pareto/NBD the conditional expectation is their product, and the second factor does
not depend on ``t_x``. Predictions therefore evaluate the costly factor (a hypergeometric function for
BG/NBD) once per distinct (x, T) pair, and the probability per row where it is a cheap closed form
(BG/NBD, MBG/NBD), else once per distinct (x, t_x, T) row (Pareto/NBD).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from cvm.models.clv._data import (
    FloatArray,
    IntArray,
    broadcast_inputs,
    check_integer,
    check_le,
    check_non_negative,
    columns_1d,
    compress,
    fit_weights,
    per_row_threaded,
    per_unique_row,
    thin,
    unique_rows,
    wsum,
)
from cvm.models.clv.base import ClvModel


def check_rft(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, t_obs: npt.ArrayLike, weights: npt.ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Validate (frequency, recency, T, weights) for the continuous-time models."""
    x, tx, age = columns_1d([("frequency", frequency), ("recency", recency), ("T", t_obs)])
    for name, arr in (("frequency", x), ("recency", tx), ("T", age)):
        check_non_negative(name, arr)
    check_integer("frequency", x)
    check_le("recency", tx, "T", age)
    stray = (x == 0) & (tx != 0)
    if stray.any():
        first = int(np.flatnonzero(stray)[0])
        raise ValueError(f"recency must be 0 when frequency is 0: {int(stray.sum())} row(s) are not, first at {first}")
    return x, tx, age, fit_weights(weights, len(x))


def check_prediction_rft(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, t_obs: npt.ArrayLike, *extra: tuple[str, npt.ArrayLike]
) -> list[FloatArray]:
    """Validate and broadcast prediction inputs (the ``extra`` ones first)."""
    arrays = broadcast_inputs([*extra, ("frequency", frequency), ("recency", recency), ("T", t_obs)])
    check_integer("frequency", arrays[-3])
    check_le("recency", arrays[-2], "T", arrays[-1])
    return arrays


@dataclass(frozen=True)
class _Groups:
    """Distinct values of one column and, per row, the index of its value."""

    values: FloatArray
    index: IntArray

    @classmethod
    def of(cls, column: FloatArray) -> _Groups:
        (values,), index = unique_rows([column])
        return cls(values, index)


@dataclass(frozen=True)
class RFTData:
    """Unique (x, t_x, T) rows with weights, plus the distinct values of each column (shared terms)."""

    x: FloatArray
    tx: FloatArray
    age: FloatArray  # T
    w: FloatArray
    gx: _Groups
    gtx: _Groups
    g_age: _Groups
    wx: FloatArray  # total weight per distinct x

    @classmethod
    def build(cls, x: FloatArray, tx: FloatArray, t_obs: FloatArray, w: FloatArray) -> RFTData:
        (x, tx, t_obs), w = compress([x, tx, t_obs], w)
        gx = _Groups.of(x)
        wx = np.asarray(np.bincount(gx.index, weights=w, minlength=len(gx.values)), dtype=np.float64)
        return cls(x, tx, t_obs, w, gx, _Groups.of(tx), _Groups.of(t_obs), wx)

    def thinned(self) -> RFTData | None:
        """A random subsample of the customers (see :func:`~cvm.models.clv._data.thin`); None when small."""
        sub = thin(self.w)
        if sub is None:
            return None
        kept, w = sub
        return RFTData.build(self.x[kept], self.tx[kept], self.age[kept], w)


def rate_start(d: RFTData) -> float:
    """A purchase rate (per time unit) to centre starting points on: repeat purchases over observed time."""
    total_t = float(wsum(d.w, d.age))
    total_x = float(wsum(d.w, d.x))
    if total_t <= 0:
        return 1.0
    return max(total_x, 0.1 * float(d.w.sum())) / total_t


class ContinuousPurchaseModel(ClvModel):
    """Predictions shared by BetaGeo, ModifiedBetaGeo and ParetoNBD."""

    # Whether P(alive) is a closed form cheap enough to evaluate for every row: cheaper, then, than finding
    # the distinct (x, t_x, T) histories by hashing. Otherwise it is evaluated once per distinct history.
    closed_form_alive: ClassVar[bool] = False

    def _p_alive(self, x: FloatArray, tx: FloatArray, age: FloatArray) -> FloatArray:
        raise NotImplementedError

    def _given_alive(self, t: FloatArray, x: FloatArray, age: FloatArray) -> FloatArray:
        raise NotImplementedError

    def probability_alive(
        self,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,  # noqa: N803
    ) -> FloatArray:
        """Probability that a customer with history (frequency, recency, T) is still active at ``T``."""
        self._check_fitted()
        return self._alive(*check_prediction_rft(frequency, recency, T))

    def _alive(self, x: FloatArray, tx: FloatArray, age: FloatArray) -> FloatArray:
        """P(alive) per row: directly when it is a cheap closed form, else once per distinct history."""
        if self.closed_form_alive:
            with np.errstate(all="ignore"):
                if x.ndim == 1:
                    return per_row_threaded(self._p_alive, [x, tx, age])
                return np.asarray(self._p_alive(x, tx, age), dtype=np.float64)
        return per_unique_row(self._p_alive, [x, tx, age])

    def expected_purchases(
        self,
        t: npt.ArrayLike,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,  # noqa: N803
    ) -> FloatArray:
        """Expected repeat purchases in the next ``t`` time units of customers with history (x, t_x, T).

        Inputs are broadcast together; the result has their common shape.
        """
        self._check_fitted()
        t_, x, tx, age = check_prediction_rft(frequency, recency, T, ("t", t))
        return np.asarray(per_unique_row(self._given_alive, [t_, x, age]) * self._alive(x, tx, age), dtype=np.float64)

    def cumulative_purchases(
        self,
        times: npt.ArrayLike,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,  # noqa: N803
    ) -> FloatArray:
        """``expected_purchases(t, ...)`` for each ``t`` in ``times``, stacked: shape ``(len(times), n)``.

        Faster than one call per horizon: the horizon-dependent factor is computed once per distinct
        (frequency, T) pair. Used by :func:`~cvm.models.clv.clv`.
        """
        self._check_fitted()
        (grid,) = broadcast_inputs([("times", times)])
        x, tx, age = (a.ravel() for a in check_prediction_rft(frequency, recency, T))
        given, pair = self._given_on_grid(grid, x, age)
        return np.asarray(given[:, pair] * self._alive(x, tx, age)[None, :], dtype=np.float64)

    def _given_on_grid(self, grid: FloatArray, x: FloatArray, age: FloatArray) -> tuple[FloatArray, IntArray]:
        """``E[Y(t) | alive]`` for each ``t`` in ``grid`` (rows) and distinct (x, T) pair (columns), and each
        customer's pair."""
        (ux, uage), pair = unique_rows([x, age])
        with np.errstate(all="ignore"):
            return self._given_alive(grid.ravel()[:, None], ux[None, :], uage[None, :]), pair

    def discounted_purchases(
        self,
        times: npt.ArrayLike,
        weights: npt.ArrayLike,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,  # noqa: N803
    ) -> FloatArray:
        """``Σ_k weights[k-1] (E[Y(times[k])] - E[Y(times[k-1])])`` per customer: weighted purchases per interval.

        With discount factors as weights this is the discounted purchase count of :func:`~cvm.models.clv.clv`.
        As ``E[Y(t)] = P(alive) · E[Y(t) | alive]``, the sum is taken once per distinct (frequency, T) pair of
        the second factor and multiplied by each customer's probability of being alive.
        """
        self._check_fitted()
        (grid, w) = broadcast_inputs([("times", times), ("weights", np.append(weights, 0.0))])
        x, tx, age = (a.ravel() for a in check_prediction_rft(frequency, recency, T))
        given, pair = self._given_on_grid(grid, x, age)
        with np.errstate(all="ignore"):
            per_pair = np.sum(w[:-1, None] * np.diff(given, axis=0), axis=0)  # no BLAS: see _data.wsum
        return np.asarray(per_pair[pair] * self._alive(x, tx, age), dtype=np.float64)

    def expected_purchases_new_customer(self, t: npt.ArrayLike) -> FloatArray:
        """Expected repeat purchases in ``(0, t]`` of a customer just acquired."""
        self._check_fitted()
        (tt,) = broadcast_inputs([("t", t)])
        zero = np.zeros_like(tt)
        with np.errstate(all="ignore"):
            return np.asarray(self._given_alive(tt, zero, zero) * self._p_alive(zero, zero, zero), dtype=np.float64)
