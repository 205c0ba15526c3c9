"""Frequentist tests of a pilot: Welch's t-test on the relative lift, and multiple-testing adjustments.

Conventions: arm A is the control, arm B the treatment; a variance is the sample variance of
one customer's outcome (``ddof=1``), and ``n`` the number of customers in the arm.

**Welch on the relative lift** (Welch 1947; the delta method as in GrowthBook's ``gbstats``):

- lift = (μB − μA) / |μA|, with variance σB² / (nB·μA²) + σA²·μB² / (nA·μA⁴);
- degrees of freedom by Welch–Satterthwaite:
  (σA²/nA + σB²/nB)² / ((σA²/nA)² / (nA − 1) + (σB²/nB)² / (nB − 1));
- ``p_value`` tests lift = 0 with t = lift / se(lift); the interval is lift ± t(1 − α/2, df)·se.

The absolute difference μB − μA is tested the classic way, se = √(σA²/nA + σB²/nB) with the
same degrees of freedom: its p-value equals ``scipy.stats.ttest_ind(b, a, equal_var=False)``.

**Multiple testing** (per-segment breakdowns): :func:`holm` (Holm 1979, family-wise error)
and :func:`benjamini_hochberg` (Benjamini & Hochberg 1995, false discovery rate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri, stdtr, stdtrit  # type: ignore[import-untyped]


@dataclass(frozen=True)
class WelchResult:
    """Relative lift and absolute difference of B over A, with intervals and p-values."""

    lift: float
    ci_low: float
    ci_high: float
    p_value: float
    diff: float
    diff_ci_low: float
    diff_ci_high: float
    diff_p_value: float
    se_lift: float
    se_diff: float
    df: float
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return {k: _clean(v) for k, v in asdict(self).items()}


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def welch_df(var_a: Any, n_a: Any, var_b: Any, n_b: Any) -> Any:
    """Welch–Satterthwaite degrees of freedom, vectorised (``inf`` when both variances are zero)."""
    qa, qb = np.asarray(var_a, float) / n_a, np.asarray(var_b, float) / n_b
    denom = qa * qa / (np.asarray(n_a, float) - 1) + qb * qb / (np.asarray(n_b, float) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, (qa + qb) ** 2 / np.where(denom > 0, denom, 1.0), np.inf)


def welch_many(
    mean_a: Any, var_a: Any, n_a: Any, mean_b: Any, var_b: Any, n_b: Any, alpha: float = 0.05
) -> dict[str, np.ndarray]:
    """:func:`welch_lift` on arrays of arms at once (one entry per experiment or segment), as a dict of arrays."""
    ma, va, na = (np.asarray(v, dtype=float) for v in (mean_a, var_a, n_a))
    mb, vb, nb = (np.asarray(v, dtype=float) for v in (mean_b, var_b, n_b))
    if np.any(na < 2) or np.any(nb < 2):
        raise ValueError("each arm needs at least two customers")
    df = welch_df(va, na, vb, nb)
    crit = np.where(np.isfinite(df), stdtrit(np.where(np.isfinite(df), df, 1.0), 1 - alpha / 2),
                    ndtri(1 - alpha / 2))  # fmt: skip
    diff = mb - ma
    se_diff = np.sqrt(va / na + vb / nb)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(ma != 0, diff / np.abs(ma), np.nan)
        se_lift = np.where(ma != 0, np.sqrt(vb / (nb * ma**2) + va * mb**2 / (na * ma**4)), np.nan)
    return {
        "lift": lift, "ci_low": lift - crit * se_lift, "ci_high": lift + crit * se_lift,
        "p_value": _two_sided(lift, se_lift, df),
        "diff": diff, "diff_ci_low": diff - crit * se_diff, "diff_ci_high": diff + crit * se_diff,
        "diff_p_value": _two_sided(diff, se_diff, df),
        "se_lift": se_lift, "se_diff": se_diff, "df": df,
    }  # fmt: skip


def welch_lift(
    mean_a: float,
    var_a: float,
    n_a: float,
    mean_b: float,
    var_b: float,
    n_b: float,
    alpha: float = 0.05,
) -> WelchResult:
    """Welch's t-test of treatment B against control A, on the relative lift and the difference.

    Parameters
    ----------
    mean_a, var_a, n_a
        Control: mean, sample variance (ddof 1) and size.
    mean_b, var_b, n_b
        Treatment: the same.
    alpha
        Two-sided level of the intervals.

    Returns
    -------
    WelchResult
        ``lift`` (relative, NaN when μA = 0), its interval and p-value (delta method); ``diff`` (absolute),
        its interval and p-value; the standard errors and the Welch–Satterthwaite ``df``.

    Examples
    --------
    >>> r = welch_lift(10.0, 4.0, 100, 11.0, 4.0, 100)
    >>> round(r.diff, 3), round(r.lift, 3), round(r.df, 1)
    (1.0, 0.1, 198.0)
    """
    out = welch_many(mean_a, var_a, n_a, mean_b, var_b, n_b, alpha)
    return WelchResult(**{k: float(v) for k, v in out.items()}, alpha=alpha)


def _two_sided(estimate: np.ndarray, se: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-values of t = estimate / se with ``df`` (normal where df is infinite); NaN in, NaN out."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(estimate / se)
    finite_df = np.isfinite(df)
    p = np.where(finite_df, 2 * stdtr(np.where(finite_df, df, 1.0), -t), 2 * ndtr(-t))
    zero_se = se == 0
    p = np.where(zero_se, np.where(estimate == 0, 1.0, 0.0), p)
    return np.where(np.isfinite(estimate) & np.isfinite(se), p, np.nan)


def welch_arrays(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, alpha: float = 0.05) -> WelchResult:
    """:func:`welch_lift` on raw outcomes (NaN values dropped)."""
    xa, xb = _finite(a), _finite(b)
    return welch_lift(xa.mean(), xa.var(ddof=1), xa.size, xb.mean(), xb.var(ddof=1), xb.size, alpha)


def _finite(x: Sequence[float] | np.ndarray) -> np.ndarray:
    arr: np.ndarray = np.asarray(x, dtype=float)
    out: np.ndarray = arr[np.isfinite(arr)]
    return out


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979); NaN stays NaN and is not counted.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.size, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return [round(float(v), 12) if np.isfinite(v) else math.nan for v in out]


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg step-up adjusted p-values (q-values, 1995); NaN stays NaN.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03])
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.size, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    order = ok[np.argsort(p[ok], kind="stable")][::-1]
    running = 1.0
    for k, i in enumerate(order):
        rank = m - k
        running = min(running, p[i] * m / rank)
        out[i] = running
    return [round(float(v), 12) if np.isfinite(v) else math.nan for v in out]


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Adjusted p-values by ``holm`` or ``bh``."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    raise ValueError(f"unknown adjustment {method!r}; use holm or bh")


def sample_size(var_a: float, var_b: float, effect: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Customers per arm to detect an absolute ``effect`` with a two-sided test at ``alpha`` and ``power``.

    n = (z(1 − α/2) + z(power))² · (σA² + σB²) / effect² (normal approximation).
    """
    if effect == 0 or not math.isfinite(effect):
        return math.inf
    z = float(ndtri(1 - alpha / 2) + ndtri(power))
    return z * z * (var_a + var_b) / (effect * effect)
