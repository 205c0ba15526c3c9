"""CUPED: variance reduction with a pre-period covariate (Deng, Xu, Kohavi & Walker 2013).

θ = cov(Y, X) / var(X), pooled over all arms (the arms share one θ, so the adjustment cannot
create a difference between them). Per arm, the adjusted outcome is Y − θ·(X − X̄), where X̄
is the pooled pre-period mean: its mean is Ȳ − θ·X̄_arm + θ·X̄ and its variance

    σY² + θ²·σX² − 2θ·cov(Y, X)

(within the arm). Centring at the pooled X̄ only shifts every arm by the same constant
θ·X̄: differences and variances are those of the reference form Ȳ − θX̄, and relative
lifts keep the outcome's own scale. The variance reduction reported is that of the
difference in means, 1 − Var_adj(ȲB − ȲA) / Var(ȲB − ȲA); with correlation ρ between
X and Y it approaches ρ².
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ArmMoments:
    """Mean, sample variance (ddof 1) and size of one arm, raw and CUPED-adjusted."""

    n: int
    mean: float
    var: float
    raw_mean: float
    raw_var: float

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean, "var": self.var, "raw_mean": self.raw_mean, "raw_var": self.raw_var}


@dataclass(frozen=True)
class CupedResult:
    """θ, the adjusted moments per arm and the variance reduction of the difference in means."""

    theta: float
    arms: dict[str, ArmMoments] = field(default_factory=dict)
    variance_reduction: float = 0.0
    correlation: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "theta": self.theta,
            "variance_reduction": self.variance_reduction,
            "correlation": self.correlation,
            "arms": {k: v.to_dict() for k, v in self.arms.items()},
        }


def cuped(
    y: Sequence[float] | np.ndarray,
    x: Sequence[float] | np.ndarray,
    arm: Sequence[str] | np.ndarray,
    control: str | None = None,
) -> CupedResult:
    """Adjust the outcome ``y`` of each arm with the pre-period covariate ``x``.

    Parameters
    ----------
    y, x
        Outcome and pre-period covariate per customer (rows with a NaN in either are dropped).
    arm
        The arm of each customer.
    control
        The arm that :attr:`CupedResult.variance_reduction` compares with (default: the first in sorted order);
        with more than two arms it is the reduction averaged over the other arms.

    Examples
    --------
    >>> r = cuped([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], ["a", "a", "b", "b"])
    >>> round(r.theta, 6), round(r.arms["a"].var, 6)
    (1.0, 0.0)
    """
    yy, xx, aa = np.asarray(y, dtype=float), np.asarray(x, dtype=float), np.asarray(arm).astype(str)
    ok = np.isfinite(yy) & np.isfinite(xx)
    yy, xx, aa = yy[ok], xx[ok], aa[ok]
    if yy.size < 2:
        raise ValueError("CUPED needs at least two customers with both an outcome and a covariate")
    var_x = float(np.var(xx, ddof=1))
    cov = float(np.cov(yy, xx, ddof=1)[0, 1])
    theta = cov / var_x if var_x > 0 else 0.0
    var_y = float(np.var(yy, ddof=1))
    corr = cov / np.sqrt(var_x * var_y) if var_x > 0 and var_y > 0 else 0.0
    x_bar = float(xx.mean())
    arms = {name: _moments(yy[aa == name], xx[aa == name], theta, x_bar) for name in sorted(set(aa.tolist()))}
    return CupedResult(theta, arms, _reduction(arms, control), float(corr))


def _moments(y: np.ndarray, x: np.ndarray, theta: float, x_bar: float) -> ArmMoments:
    n = int(y.size)
    if n < 2:
        m = float(y.mean()) if n else float("nan")
        return ArmMoments(n, m - theta * (float(x.mean()) - x_bar) if n else m, float("nan"), m, float("nan"))
    var_y, var_x = float(np.var(y, ddof=1)), float(np.var(x, ddof=1))
    cov = float(np.cov(y, x, ddof=1)[0, 1])
    adj_var = max(var_y + theta * theta * var_x - 2 * theta * cov, 0.0)
    mean = float(y.mean()) - theta * (float(x.mean()) - x_bar)
    return ArmMoments(n, mean, adj_var, float(y.mean()), var_y)


def _reduction(arms: dict[str, ArmMoments], control: str | None) -> float:
    if len(arms) < 2:
        return 0.0
    base = control if control in arms else sorted(arms)[0]
    a = arms[base]
    out = []
    for name, b in arms.items():
        if name == base:
            continue
        raw = a.raw_var / a.n + b.raw_var / b.n
        adj = a.var / a.n + b.var / b.n
        if raw > 0:
            out.append(1.0 - adj / raw)
    return float(np.mean(out)) if out else 0.0
