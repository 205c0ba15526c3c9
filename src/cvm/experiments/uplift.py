"""Uplift targeting: who responds to the treatment, and how well a model ranks them.

**Estimator.** :class:`TwoModelUplift` is the two-model approach (T-learner): one model of the
outcome fitted on the treated customers, one on the controls; the predicted uplift of a
customer is the difference of their predictions (probabilities for a binary outcome).

**Qini curve** (Radcliffe 2007), the one definition CVM uses (libraries differ):

1. sort customers by predicted uplift, highest first; ties keep their input order (stable sort);
2. for the top k customers (k = 0..n), with Nₜ(k), N꜀(k) treated and control customers among
   them and Yₜ(k), Y꜀(k) the sums of their outcomes:
   Q(k) = Yₜ(k) − Y꜀(k) · Nₜ(k) / N꜀(k), and Q(k) = Yₜ(k) while N꜀(k) = 0; Q(0) = 0;
3. the random-targeting line is k/n · Q(n);
4. the **Qini coefficient** is the mean gap between the curve and that line,
   (1/n) · Σₖ₌₁ⁿ (Q(k) − k/n · Q(n)), in outcome units (positive: better than random).

**Uplift at k** (a fraction φ of customers, k = ⌈φ·n⌉): the mean outcome of the treated among the
top k minus that of the controls among them (NaN when either is absent).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, clone  # type: ignore[import-untyped]
from sklearn.linear_model import LinearRegression, LogisticRegression  # type: ignore[import-untyped]

Outcome = Literal["binary", "continuous"]
BUILTIN = ("logistic", "linear", "lightgbm")


def _as_arrays(x: Any, y: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xa = np.asarray(x, dtype=float)
    if xa.ndim == 1:
        xa = xa.reshape(-1, 1)
    ya = np.asarray(y, dtype=float)
    ta = np.asarray(treatment).astype(bool)
    if not (xa.shape[0] == ya.size == ta.size):
        raise ValueError(f"X has {xa.shape[0]} rows, y {ya.size} and treatment {ta.size}: they must match")
    if ta.all() or not ta.any():
        raise ValueError("the data need both treated and control customers")
    return xa, ya, ta


class TwoModelUplift:
    """Two-model (T-learner) uplift estimator, scikit-learn style.

    Parameters
    ----------
    estimator
        ``"logistic"`` (default; binary outcomes), ``"linear"`` (continuous), ``"lightgbm"`` (either),
        or any scikit-learn estimator, cloned once per arm.
    outcome
        ``"binary"`` uses predicted probabilities of 1; ``"continuous"`` the predictions.
    random_state
        Seed of the built-in LightGBM models.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.r_[np.zeros(200), np.ones(200)]
    >>> t = np.tile([0, 1], 200)
    >>> y = np.maximum(x * t, np.arange(400) % 4 == 0).astype(int)  # 25% convert anyway; x = 1 responds
    >>> model = TwoModelUplift().fit(x, y, t)
    >>> bool(model.predict([[1.0]])[0] > model.predict([[0.0]])[0])
    True
    """

    def __init__(
        self, estimator: str | BaseEstimator = "logistic", outcome: Outcome = "binary", random_state: int | None = 0
    ) -> None:
        self.estimator = estimator
        self.outcome = outcome
        self.random_state = random_state

    def _base(self) -> Any:
        if not isinstance(self.estimator, str):
            return clone(self.estimator)
        if self.estimator not in BUILTIN:
            raise ValueError(f"estimator {self.estimator!r}: use one of {', '.join(BUILTIN)} or an sklearn estimator")
        if self.estimator == "logistic":
            return LogisticRegression(max_iter=1000)
        if self.estimator == "linear":
            return LinearRegression()
        import lightgbm as lgb

        cls = lgb.LGBMClassifier if self.outcome == "binary" else lgb.LGBMRegressor
        return cls(n_estimators=200, learning_rate=0.05, num_leaves=15, verbose=-1, random_state=self.random_state)

    def fit(self, x: Any, y: Any, treatment: Any) -> TwoModelUplift:
        """Fit one outcome model on the treated and one on the controls; returns ``self``."""
        if self.outcome not in ("binary", "continuous"):
            raise ValueError(f"outcome must be binary or continuous, not {self.outcome!r}")
        xa, ya, ta = _as_arrays(x, y, treatment)
        if self.outcome == "binary" and not np.isin(ya, (0.0, 1.0)).all():
            raise ValueError("a binary outcome takes the values 0 and 1 only")
        for arm, mask in (("treated", ta), ("control", ~ta)):
            if self.outcome == "binary" and np.unique(ya[mask]).size < 2:
                raise ValueError(f"the {arm} customers all have the same outcome: nothing to learn from")
        self.model_treated_ = self._base().fit(xa[ta], ya[ta])
        self.model_control_ = self._base().fit(xa[~ta], ya[~ta])
        self.n_features_in_ = xa.shape[1]
        return self

    def _predict(self, model: Any, x: np.ndarray) -> np.ndarray:
        if self.outcome == "binary":
            return np.asarray(model.predict_proba(x)[:, 1], dtype=float)
        return np.asarray(model.predict(x), dtype=float)

    def predict(self, x: Any) -> np.ndarray:
        """Predicted uplift per customer: treated prediction minus control prediction."""
        if not hasattr(self, "model_treated_"):
            raise RuntimeError("this TwoModelUplift is not fitted yet; call fit first")
        xa = np.asarray(x, dtype=float)
        if xa.ndim == 1:
            xa = xa.reshape(-1, 1)
        if xa.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {xa.shape[1]} features; the model was fitted on {self.n_features_in_}")
        uplift: np.ndarray = self._predict(self.model_treated_, xa) - self._predict(self.model_control_, xa)
        return uplift


def _ranked(y: Any, treatment: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    ya = np.asarray(y, dtype=float)
    ta = np.asarray(treatment).astype(bool)
    sa = np.asarray(score, dtype=float)
    if not (ya.size == ta.size == sa.size):
        raise ValueError("y, treatment and score must have the same length")
    order = np.argsort(-sa, kind="stable")
    return ya[order], ta[order]


def qini_curve(y: Any, treatment: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(k, Q(k))`` for k = 0..n, as defined in the module docstring.

    Examples
    --------
    >>> k, q = qini_curve([1, 0, 1, 0], [1, 0, 1, 0], [0.4, 0.3, 0.2, 0.1])
    >>> q.tolist()
    [0.0, 1.0, 1.0, 2.0, 2.0]
    """
    ys, ts = _ranked(y, treatment, score)
    n_t = np.concatenate([[0], np.cumsum(ts)])
    n_c = np.concatenate([[0], np.cumsum(~ts)])
    y_t = np.concatenate([[0.0], np.cumsum(np.where(ts, ys, 0.0))])
    y_c = np.concatenate([[0.0], np.cumsum(np.where(ts, 0.0, ys))])
    ratio = np.divide(n_t, n_c, out=np.zeros(n_t.size), where=n_c > 0)
    q = y_t - y_c * ratio
    return np.arange(ys.size + 1), q


def qini_coefficient(y: Any, treatment: Any, score: Any) -> float:
    """Mean gap between the Qini curve and random targeting, (1/n) Σₖ (Q(k) − k/n·Q(n))."""
    k, q = qini_curve(y, treatment, score)
    n = k[-1]
    if n == 0:
        return math.nan
    return float(np.sum(q[1:] - k[1:] / n * q[-1]) / n)


def uplift_at_k(y: Any, treatment: Any, score: Any, fraction: float) -> float:
    """Mean outcome of the treated minus that of the controls among the top ⌈fraction·n⌉ by score."""
    if not 0 < fraction <= 1:
        raise ValueError("fraction must lie in (0, 1]")
    ys, ts = _ranked(y, treatment, score)
    k = math.ceil(fraction * ys.size)
    top_y, top_t = ys[:k], ts[:k]
    if not top_t.any() or top_t.all():
        return math.nan
    return float(top_y[top_t].mean() - top_y[~top_t].mean())
