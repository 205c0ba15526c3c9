"""Grades of a whole base held as small integer codes, for scoring in chunks (:mod:`cvm.store.chunks`).

Quantile grades rank every customer of the base against each other: they are computed once on the whole
base's values (numeric arrays gathered chunk by chunk), kept as one byte per customer, and each chunk then
takes its slice, so one chunk or many give the same grades.

Examples
--------
>>> grade_series(grade_codes(np.array(["high", None, "low"], dtype=object))).to_list()
['high', None, 'low']
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cvm.scoring.grade_plans import plan, stats_of
from cvm.scoring.grades import GradeRule

GRADE_CODES: tuple[str | None, ...] = (None, "low", "medium", "high")  # int8 code -> grade
SLICE = 250_000  # values graded at a time


def grade_codes(grades: NDArray[np.object_]) -> NDArray[np.int8]:
    """Grades (None/low/medium/high) as small integer codes, to hold a whole base's grades cheaply."""
    out = np.zeros(len(grades), dtype=np.int8)
    for code, name in enumerate(GRADE_CODES):
        if name is not None:
            out[grades == name] = code
    return out


def base_grades(rule: GradeRule, values: NDArray[np.float64], what: str) -> tuple[NDArray[np.int8], str | None]:
    """Grades of the whole base's ``values`` as codes, and why they are ungraded (None when graded).

    The shares become value thresholds once (:mod:`cvm.scoring.grade_plans`: a partial sort, no ranks), and
    the values are graded by them in slices of :data:`SLICE` (:func:`cvm.scoring.grade_plans.plan` grades any
    batch as the whole base): no array of grade strings the size of the base is made.
    """
    if not rule.higher_is_better:  # grade plans rank higher values first
        return grade_codes(rule.apply(values)), rule.ungraded(values, what)
    graded = plan(rule, stats_of(values, rule), what)
    codes = np.zeros(len(values), dtype=np.int8)
    if graded.why is None:
        for start in range(0, len(values), SLICE):
            codes[start : start + SLICE] = grade_codes(graded.rule.apply(values[start : start + SLICE]))
    return codes, graded.why


def grade_series(codes: NDArray[np.int8], name: str = "grade") -> pl.Series:
    """The grades of :func:`grade_codes` as a Polars string column (null: no grade)."""
    mapping = {code: g for code, g in enumerate(GRADE_CODES) if g is not None}
    return pl.Series(name, codes, dtype=pl.Int8).replace_strict(mapping, default=None, return_dtype=pl.Utf8)
