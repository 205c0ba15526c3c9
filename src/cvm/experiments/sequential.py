"""Always-valid confidence intervals for pilots that are looked at every day.

Asymptotic confidence sequences of Waudby-Smith, Ramdas et al. (2021), "Time-uniform central
limit theory and asymptotic confidence sequences", arXiv 2103.06476 (Theorem 2.2 with the
normal mixture, eq. 161 for ρ), in the formulation GrowthBook uses:

- ρ = √((−2 ln α + ln(−2 ln α + 1)) / N*), where the tuning parameter N* is the total sample
  size at which the interval is tightest (GrowthBook's default: 5,000);
- half-width = √(s²) · √( 2(nρ² + 1) / (n²ρ²) · ln(√(nρ² + 1) / α) ), with n the customers of
  both arms together and s² = n · Var(estimate) (the variance of one customer's contribution);
- always-valid p-value = min(1, 1/E), with the normal-mixture e-value
  E = exp(ρ²·n·θ̂²/Var / (2(nρ² + 1))) / √(nρ² + 1) (eq. 155 of the paper, as GrowthBook writes it).

The interval holds at every n at once with probability at least 1 − α (asymptotically), so a
team may stop the first day it excludes zero. It is wider than the fixed-horizon interval.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_TUNING = 5_000.0


@dataclass(frozen=True)
class SequentialCI:
    """An always-valid interval for an estimate (absolute difference or relative lift)."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    halfwidth: float
    rho: float
    n: float
    alpha: float
    tuning: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def rho(alpha: float = 0.05, tuning: float = DEFAULT_TUNING) -> float:
    """The mixture parameter ρ for a two-sided interval at ``alpha``, tightest near ``tuning`` customers."""
    if not 0 < alpha < 1 or tuning <= 0:
        raise ValueError("alpha must lie in (0, 1) and the tuning parameter be positive")
    la = -2.0 * math.log(alpha)
    return math.sqrt((la + math.log(la + 1.0)) / tuning)


def halfwidth(variance: np.ndarray | float, n: np.ndarray | float, alpha: float = 0.05,
              tuning: float = DEFAULT_TUNING) -> np.ndarray | float:  # fmt: skip
    """Half-width of the confidence sequence (vectorised over ``variance`` and ``n``).

    ``variance`` is the variance of the estimate (e.g. σA²/nA + σB²/nB for a difference), ``n``
    the total number of customers behind it.
    """
    r = rho(alpha, tuning)
    nn = np.asarray(n, dtype=float)
    nr2 = nn * r * r
    s2 = np.asarray(variance, dtype=float) * nn
    width = 2.0 * (nr2 + 1.0) / (nn * nn * r * r) * np.log(np.sqrt(nr2 + 1.0) / alpha)
    out = np.sqrt(s2 * width)
    return float(out) if np.ndim(out) == 0 else out


def sequential_ci(
    estimate: float, variance: float, n: float, alpha: float = 0.05, tuning: float = DEFAULT_TUNING
) -> SequentialCI:
    """The always-valid interval and p-value of ``estimate`` with ``variance`` from ``n`` customers.

    Examples
    --------
    >>> ci = sequential_ci(1.0, 0.08, 200)
    >>> ci.ci_low < 1.0 - 1.96 * 0.08**0.5  # wider than the fixed-horizon interval
    True
    """
    if n <= 0 or variance < 0:
        raise ValueError("n must be positive and the variance not negative")
    r = rho(alpha, tuning)
    hw = float(halfwidth(variance, n, alpha, tuning))
    nr2 = n * r * r
    if variance > 0:
        z2 = estimate * estimate / variance
        log_e = r * r * n * z2 / (2.0 * (nr2 + 1.0)) - 0.5 * math.log(nr2 + 1.0)
        p = min(1.0, math.exp(-log_e))
    else:
        p = 1.0 if estimate == 0 else 0.0
    return SequentialCI(estimate, estimate - hw, estimate + hw, p, hw, r, float(n), alpha, tuning)
