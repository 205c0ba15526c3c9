"""Platt scaling (Platt 1999) of a logistic regression, fitted on out-of-fold scores.

A logistic regression fitted and judged on the same rows is over-confident: its coefficients are too large for
new rows. Refitting it on k-1 folds and scoring the k-th gives out-of-fold log-odds ``z``; the regression
``P(bad) = σ(a·z + b)`` on those rows measures the shrinkage ``a`` (below 1 when over-confident) and the shift
``b``. Since ``a·(w·x + c) + b`` is again linear, the scorecard folds ``a`` and ``b`` into its coefficients and
intercept: its points still add up to its score, and no extra step runs at scoring time.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def out_of_fold_platt(
    features: np.ndarray[Any, Any], y: np.ndarray[Any, Any], c: float, folds: int = 5, seed: int = 0
) -> tuple[float, float]:
    """``(a, b)`` of ``σ(a·z + b)`` on the out-of-fold log-odds ``z`` of ``LogisticRegression(C=c)``."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

    z = np.empty(len(y), dtype=np.float64)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, y):
        model = LogisticRegression(C=c, max_iter=2000).fit(features[train], y[train])
        z[test] = model.decision_function(features[test])
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), y)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])
