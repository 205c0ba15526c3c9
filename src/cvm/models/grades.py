"""Grades: ``low`` / ``medium`` / ``high`` from two thresholds, fixed or learned as quantiles.

A value below the lower threshold is ``low``, at or above the upper one ``high``, ``medium`` in
between; a missing value gets no grade (None). For a risk score "high" means high risk; for a
credit score (higher is safer) grade the probability of bad, or read "high" as a high score.

Examples
--------
>>> grade([0.01, 0.05, 0.2, float("nan")], thresholds=(0.03, 0.1))
['low', 'medium', 'high', None]
>>> Grader(quantiles=(0.5, 0.9)).fit(list(range(100))).thresholds_
(49.5, 89.10000000000001)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from cvm.models.tabular import ParamsMixin, check_fitted

GRADES = ("low", "medium", "high")


def _values(values: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values, dtype=np.float64).ravel()


def _check(thresholds: Sequence[float]) -> tuple[float, float]:
    if len(thresholds) != 2:
        raise ValueError(f"need two thresholds (low|medium, medium|high), got {len(thresholds)}")
    lo, hi = float(thresholds[0]), float(thresholds[1])
    if not lo <= hi:
        raise ValueError(f"thresholds must be ascending, got {lo} and {hi}")
    return lo, hi


def grade(values: Any, thresholds: Sequence[float]) -> list[str | None]:
    """``low`` below ``thresholds[0]``, ``high`` at or above ``thresholds[1]``, else ``medium``."""
    lo, hi = _check(thresholds)
    v = _values(values)
    index = np.searchsorted(np.array([lo, hi]), v, side="right")
    return [None if np.isnan(x) else GRADES[int(i)] for x, i in zip(v, index, strict=True)]


class Grader(ParamsMixin):
    """Grades from fixed ``thresholds``, or from the ``quantiles`` of the values given to :meth:`fit`.

    Parameters
    ----------
    thresholds
        Two ascending cut points; when given, ``fit`` only records them.
    quantiles
        Two ascending quantiles (default: the top 20% are ``high``, the next 30% ``medium``).
    """

    def __init__(self, *, thresholds: Sequence[float] | None = None, quantiles: Sequence[float] = (0.5, 0.8)) -> None:
        self.thresholds = thresholds
        self.quantiles = quantiles

    def fit(self, values: Any = None) -> Self:
        """Learn the thresholds (the quantiles of ``values``) unless fixed ones were given."""
        if self.thresholds is not None:
            self.thresholds_ = _check(self.thresholds)
            return self
        q = _check(self.quantiles)
        if q[0] < 0.0 or q[1] > 1.0:
            raise ValueError(f"quantiles must lie in [0, 1], got {q}")
        v = _values(values) if values is not None else np.array([])
        v = v[~np.isnan(v)]
        if v.size == 0:
            raise ValueError("fit needs values (or fixed thresholds)")
        lo, hi = np.quantile(v, q)
        self.thresholds_ = (float(lo), float(hi))
        return self

    def transform(self, values: Any) -> list[str | None]:
        """The grade of each value."""
        check_fitted(self, "thresholds_")
        return grade(values, self.thresholds_)

    def fit_transform(self, values: Any) -> list[str | None]:
        """:meth:`fit`, then :meth:`transform` of the same values."""
        return self.fit(values).transform(values)
