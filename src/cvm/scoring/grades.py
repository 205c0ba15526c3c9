"""Low / medium / high grades of a score, by share of the base or by fixed thresholds.

Any score can be graded (value, churn risk, default risk); ``higher_is_better=False`` grades
the lowest values ``high``. Ties always share a grade, and missing values get none.

Grading by share ranks customers against each other, so it needs values that differ: when every
known value is the same, no customer is graded (:func:`ungraded_reason` says why). Ranks also say
nothing about absolute size, so a rule can carry floors: a value not above ``medium_floor`` is
never better than low, one not above ``high_floor`` never high (for ``higher_is_better=False`` they
are ceilings: the value must lie below them). A CLV of 0 is then never "high", nor a propensity
of 1e-6 "medium", however the rest of the base scores.

Examples
--------
>>> grade_by_share([10.0, 8.0, 8.0, 5.0, 1.0], high_share=0.2, medium_share=0.4).tolist()
['high', 'medium', 'medium', 'low', 'low']
>>> grade_by_share([0.0, 0.0, 0.0]).tolist()
[None, None, None]
>>> GradeRule().apply([0.2, 4.6e-7, 1e-7, 1e-7, 1e-7]).tolist()
['high', 'medium', 'low', 'low', 'low']
>>> GradeRule(medium_floor=0.001, high_floor=0.01).apply([0.2, 4.6e-7, 1e-7, 1e-7, 1e-7]).tolist()
['high', 'low', 'low', 'low', 'low']
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
    medium_floor: float | None = None
    high_floor: float | None = None

    def apply(self, values: ArrayLike) -> NDArray[np.object_]:
        """Grade ``values`` with this rule (then cap them by the floors)."""
        if self.method == "quantile":
            grades = grade_by_share(values, self.high_share, self.medium_share, self.higher_is_better)
        elif self.high_threshold is None or self.medium_threshold is None:
            raise BadValueError("threshold grading needs high_threshold and medium_threshold")
        else:
            grades = grade_by_threshold(values, self.high_threshold, self.medium_threshold, self.higher_is_better)
        return cap_by_floors(values, grades, self.medium_floor, self.high_floor, self.higher_is_better)

    def ungraded(self, values: ArrayLike, what: str = "score") -> str | None:
        """Why this rule grades none of ``values`` (see :func:`ungraded_reason`), or None."""
        return ungraded_reason(values, what) if self.method == "quantile" else None

    def describe(self) -> str:
        """One line for reports, e.g. ``top 20% high, next 30% medium``."""
        if self.method == "quantile":
            text = f"top {self.high_share:.0%} high, next {self.medium_share:.0%} medium"
        else:
            arrow = ">=" if self.higher_is_better else "<="
            text = f"high {arrow} {self.high_threshold:,.2f}, medium {arrow} {self.medium_threshold:,.2f}"
        side = "above" if self.higher_is_better else "below"
        bounds = [(g, v) for g, v in (("medium", self.medium_floor), ("high", self.high_floor)) if v is not None]
        return "; ".join([text, *(f"{g} only {side} {v:,.4g}" for g, v in bounds)])


def _as_float(values: ArrayLike) -> NDArray[np.float64]:
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":  # no None to read: no object copy
        return np.asarray(values, dtype=np.float64).ravel()
    arr = np.asarray(values, dtype=object)
    return np.array([np.nan if v is None else float(v) for v in arr.ravel()], dtype=float)


def grade_by_share(
    values: ArrayLike, high_share: float = 0.2, medium_share: float = 0.3, higher_is_better: bool = True
) -> NDArray[np.object_]:
    """Grade by position: the best ``high_share`` of the base is high, the next ``medium_share`` medium.

    A value's rank is 1 + the number of (non-missing) values strictly better than it; it is high
    when rank <= high_share × n, medium when rank <= (high_share + medium_share) × n. Equal values
    share a rank, so they always get the same grade; a tie across a cut-off gets the better grade.
    When all known values are equal, none is graded.
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
    if ordered[0] < ordered[-1]:  # a constant score ranks nobody above anybody: no grade
        out[known] = grades.astype(object)
    return out


def ungraded_reason(values: ArrayLike, what: str = "score") -> str | None:
    """Why grading by share gives the known ``values`` no grade (every one is equal), or None."""
    x = _as_float(values)
    known = x[~np.isnan(x)]
    if known.size == 0 or known.min() < known.max():
        return None
    return same_value_reason(known.size, float(known[0]), what)


def same_value_reason(count: int, value: float, what: str = "score") -> str:
    """The reason of :func:`ungraded_reason` for ``count`` known values all equal to ``value``."""
    n = "the only customer has" if count == 1 else f"all {count:,} customers have"
    return f"{what} not graded: {n} the same value ({value:,.4g}), so no one ranks above another"


def cap_by_floors(
    values: ArrayLike,
    grades: ArrayLike,
    medium_floor: float | None,
    high_floor: float | None,
    higher_is_better: bool = True,
) -> NDArray[np.object_]:
    """``grades`` lowered where the value is not beyond the floors: not above ``medium_floor`` is low,
    not above ``high_floor`` at most medium (below, for ``higher_is_better=False``)."""
    x = _as_float(values)
    out = np.asarray(grades, dtype=object).ravel().copy()
    sign = 1.0 if higher_is_better else -1.0
    with np.errstate(invalid="ignore"):
        if high_floor is not None:
            out[(out == "high") & ~(sign * x > sign * high_floor)] = "medium"
        if medium_floor is not None:
            out[np.isin(out, ["high", "medium"]) & ~(sign * x > sign * medium_floor)] = "low"
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
