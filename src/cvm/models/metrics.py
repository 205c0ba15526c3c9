"""Classification and credit-risk metrics: AUC, PR-AUC, Brier, ECE, lift, Gini, KS and PSI.

Conventions:

- ``y`` is 1 for the event (churn, adoption, *bad*) and 0 otherwise; ``p`` is the predicted
  probability of the event, so a higher score means more risk.
- Gini = 2·AUC − 1.
- KS = max |cumulative share of bads − cumulative share of goods| over score thresholds.
- PSI = Σ (a − e)·ln(a / e) over bins of the *expected* (reference) scores' quantiles; empty bins
  get a share of ``eps`` so the sum stays finite. Below 0.10 stable, 0.10–0.25 monitor, above shifted.
- ECE (Naeini, Cooper & Hauskrecht 2015) = Σ_b (n_b / n)·|mean(y)_b − mean(p)_b| over bins of
  ``p``: ``uniform`` bins of equal width on [0, 1] (default) or ``quantile`` bins of equal size.
- Lift of decile k = event rate among the k-th tenth of rows by descending score ÷ overall rate.

Examples
--------
>>> import numpy as np
>>> y = np.array([0, 0, 1, 1]); p = np.array([0.1, 0.4, 0.35, 0.8])
>>> round(gini(y, p), 3), round(ks(y, p), 3)
(0.5, 0.5)
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score  # type: ignore[import-untyped]

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]


def _binary(y: ArrayLike, p: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validated (y, p) as float arrays of equal length, y in {0, 1}."""
    ya = np.asarray(y, dtype=np.float64).ravel()
    pa = np.asarray(p, dtype=np.float64).ravel()
    if ya.shape != pa.shape:
        raise ValueError(f"y and p differ in length: {ya.size} and {pa.size}")
    if ya.size == 0:
        raise ValueError("y and p are empty")
    if not np.isin(ya, (0.0, 1.0)).all():
        raise ValueError("y must contain only 0 and 1")
    if np.isnan(pa).any():
        raise ValueError("p contains missing values")
    return ya, pa


def auc(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve (ties count one half)."""
    ya, pa = _binary(y, p)
    return float(roc_auc_score(ya, pa))


def pr_auc(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the precision-recall curve, as average precision."""
    ya, pa = _binary(y, p)
    return float(average_precision_score(ya, pa))


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Brier score: mean squared error of the probabilities."""
    ya, pa = _binary(y, p)
    return float(brier_score_loss(ya, pa))


def gini(y: ArrayLike, p: ArrayLike) -> float:
    """Gini coefficient (accuracy ratio) = 2·AUC − 1."""
    return 2.0 * auc(y, p) - 1.0


def ks(y: ArrayLike, p: ArrayLike) -> float:
    """Kolmogorov-Smirnov statistic: max |cumulative bad share − cumulative good share|."""
    ya, pa = _binary(y, p)
    bads, goods = ya.sum(), (1.0 - ya).sum()
    if bads == 0 or goods == 0:
        raise ValueError("KS needs both classes")
    order = np.argsort(-pa, kind="stable")
    ys, ps = ya[order], pa[order]
    last = np.r_[ps[1:] != ps[:-1], True]  # evaluate only between distinct scores
    cum_bad = np.cumsum(ys)[last] / bads
    cum_good = np.cumsum(1.0 - ys)[last] / goods
    return float(np.max(np.abs(cum_bad - cum_good)))


def ece(y: ArrayLike, p: ArrayLike, bins: int = 10, strategy: Literal["uniform", "quantile"] = "uniform") -> float:
    """Expected calibration error (Naeini et al. 2015), weighted by the share of rows per bin."""
    ya, pa = _binary(y, p)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, bins + 1)
    elif strategy == "quantile":
        edges = np.quantile(pa, np.linspace(0.0, 1.0, bins + 1))
    else:
        raise ValueError(f"unknown strategy {strategy!r}; use 'uniform' or 'quantile'")
    index = np.clip(np.searchsorted(edges[1:-1], pa, side="right"), 0, bins - 1)
    count = np.bincount(index, minlength=bins).astype(np.float64)
    gap = np.abs(np.bincount(index, weights=ya, minlength=bins) - np.bincount(index, weights=pa, minlength=bins))
    return float(gap.sum() / count.sum())


def lift_by_decile(y: ArrayLike, p: ArrayLike, groups: int = 10) -> list[float]:
    """Event rate of each group (highest scores first) divided by the overall event rate."""
    ya, pa = _binary(y, p)
    rate = ya.mean()
    if rate == 0:
        raise ValueError("lift needs at least one event")
    order = np.argsort(-pa, kind="stable")
    return [float(part.mean() / rate) for part in np.array_split(ya[order], groups) if part.size]


def psi(expected: ArrayLike, actual: ArrayLike, bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of ``actual`` scores against ``expected`` (reference) scores.

    Bins are the deciles (for ``bins=10``) of ``expected``, open at both ends.

    Examples
    --------
    >>> round(psi([1, 2, 3, 4], [1, 2, 3, 4], bins=2), 6)
    0.0
    """
    e = np.asarray(expected, dtype=np.float64).ravel()
    a = np.asarray(actual, dtype=np.float64).ravel()
    if e.size == 0 or a.size == 0:
        raise ValueError("psi needs non-empty expected and actual scores")
    edges = np.unique(np.quantile(e, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    e_share = np.bincount(np.searchsorted(edges, e, side="right"), minlength=edges.size + 1) / e.size
    a_share = np.bincount(np.searchsorted(edges, a, side="right"), minlength=edges.size + 1) / a.size
    return psi_from_shares(e_share, a_share, eps)


def psi_from_shares(expected: ArrayLike, actual: ArrayLike, eps: float = 1e-4) -> float:
    """PSI = Σ (a − e)·ln(a / e) from the shares per bin; shares below ``eps`` are raised to it."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), eps)
    a = np.maximum(np.asarray(actual, dtype=np.float64), eps)
    if e.shape != a.shape:
        raise ValueError("expected and actual shares need the same bins")
    return float(np.sum((a - e) * np.log(a / e)))


def classification_report(y: ArrayLike, p: ArrayLike, bins: int = 10) -> dict[str, Any]:
    """AUC, PR-AUC, Brier, ECE, Gini, KS and lift per decile of one set of predictions."""
    ya, pa = _binary(y, p)
    both = 0 < ya.sum() < ya.size
    return {
        "n": int(ya.size),
        "event_rate": float(ya.mean()),
        "mean_prediction": float(pa.mean()),
        "auc": auc(ya, pa) if both else float("nan"),
        "pr_auc": pr_auc(ya, pa) if both else float("nan"),
        "brier": brier(ya, pa),
        "ece": ece(ya, pa, bins),
        "gini": gini(ya, pa) if both else float("nan"),
        "ks": ks(ya, pa) if both else float("nan"),
        "lift_by_decile": lift_by_decile(ya, pa) if ya.sum() > 0 else [],
    }
