"""Low / medium / high grades of a score, by share of the base or by fixed thresholds.

Any score can be graded (value, churn risk, default risk); ``higher_is_better=False`` grades
the lowest values ``high``. Ties always share a grade, and missing values get none.

Examples
--------
>>> grade_by_share([10.0, 8.0, 8.0, 5.0, 1.0], high_share=0.2, medium_share=0.4).tolist()
['high', 'medium', 'medium', 'low', 'low']
>>> grade_by_threshold([10.0, 8.0, None], high=9.0, medium=6.0).tolist()
['high', 'medium', None]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cvm.errors import BadValueError

GRADES = ("low", "medium", "high")


@dataclass(frozen=True)
class GradeRule:
    """How to grade: ``quantile`` by share of the base, or ``threshold`` by value."""

    method: Literal["quantile", "threshold"] = "quantile"
    high_share: float = 0.2
    medium_share: float = 0.3
    high_threshold: float | None = None
    medium_threshold: float | None = None
    higher_is_better: bool = True

    def apply(self, values: ArrayLike) -> NDArray[np.object_]:
        """Grade ``values`` with this rule."""
        if self.method == "quantile":
            return grade_by_share(values, self.high_share, self.medium_share, self.higher_is_better)
        if self.high_threshold is None or self.medium_threshold is None:
            raise BadValueError("threshold grading needs high_threshold and medium_threshold")
        return grade_by_threshold(values, self.high_threshold, self.medium_threshold, self.higher_is_better)

    def describe(self) -> str:
        """One line for reports, e.g. ``top 20% high, next 30% medium``."""
        if self.method == "quantile":
            return f"top {self.high_share:.0%} high, next {self.medium_share:.0%} medium"
        arrow = ">=" if self.higher_is_better else "<="
        return f"high {arrow} {self.high_threshold:,.2f}, medium {arrow} {self.medium_threshold:,.2f}"


def _as_float(values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=object)
    return np.array([np.nan if v is None else float(v) for v in arr.ravel()], dtype=float)


def grade_by_share(
    values: ArrayLike, high_share: float = 0.2, medium_share: float = 0.3, higher_is_better: bool = True
) -> NDArray[np.object_]:
    """Grade by position: the best ``high_share`` of the base is high, the next ``medium_share`` medium.

    A value's rank is 1 + the number of (non-missing) values strictly better than it; it is high
    when rank <= high_share × n, medium when rank <= (high_share + medium_share) × n. Equal values
    share a rank, so they always get the same grade; a tie across a cut-off gets the better grade.
    """
    if not (0 < high_share < 1 and 0 <= medium_share < 1 and high_share + medium_share <= 1):
        raise BadValueError("shares must lie in (0, 1) and add up to at most 1")
    x = _as_float(values)
    out = np.full(x.shape, None, dtype=object)
    known = ~np.isnan(x)
    if not known.any():
        return out
    v = x[known] if higher_is_better else -x[known]
    ordered = np.sort(v)
    rank = v.size - np.searchsorted(ordered, v, side="right") + 1  # 1 + how many values are strictly better
    high_cut, medium_cut = high_share * v.size + 1e-9, (high_share + medium_share) * v.size + 1e-9
    grades = np.where(rank <= high_cut, "high", np.where(rank <= medium_cut, "medium", "low"))
    out[known] = grades.astype(object)
    return out


def grade_by_threshold(
    values: ArrayLike, high: float, medium: float, higher_is_better: bool = True
) -> NDArray[np.object_]:
    """Grade by value: at or beyond ``high`` is high, at or beyond ``medium`` medium, else low."""
    if (medium > high) if higher_is_better else (medium < high):
        raise BadValueError("the medium threshold must lie on the low side of the high threshold")
    x = _as_float(values)
    sign = 1.0 if higher_is_better else -1.0
    out = np.full(x.shape, None, dtype=object)
    known = ~np.isnan(x)
    v = sign * x[known]
    grades = np.where(v >= sign * high, "high", np.where(v >= sign * medium, "medium", "low"))
    out[known] = grades.astype(object)
    return out


def grade_counts(grades: ArrayLike) -> dict[str, int]:
    """Customers per grade, every grade present (``{"high": 2, "medium": 3, "low": 5}``)."""
    counts = Counter(g for g in np.asarray(grades, dtype=object).ravel() if g is not None)
    return {g: int(counts.get(g, 0)) for g in reversed(GRADES)}
