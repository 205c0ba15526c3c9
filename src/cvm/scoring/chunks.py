"""Grades of a whole base held as small integer codes, for scoring in chunks (:mod:`cvm.store.chunks`).

Quantile grades rank every customer of the base against each other: their shares become value thresholds once,
on the whole base's values (:mod:`cvm.scoring.grade_plans`), and each chunk's grades are kept as one byte per
customer, so one chunk or many give the same grades.

Examples
--------
>>> grade_series(grade_codes(np.array(["high", None, "low"], dtype=object))).to_list()
['high', None, 'low']
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.typing import NDArray

GRADE_CODES: tuple[str | None, ...] = (None, "low", "medium", "high")  # int8 code -> grade


def grade_codes(grades: NDArray[np.object_]) -> NDArray[np.int8]:
    """Grades (None/low/medium/high) as small integer codes, to hold a whole base's grades cheaply."""
    out = np.zeros(len(grades), dtype=np.int8)
    for code, name in enumerate(GRADE_CODES):
        if name is not None:
            out[grades == name] = code
    return out


def grade_series(codes: NDArray[np.int8], name: str = "grade") -> pl.Series:
    """The grades of :func:`grade_codes` as a Polars string column (null: no grade)."""
    mapping = {code: g for code, g in enumerate(GRADE_CODES) if g is not None}
    return pl.Series(name, codes, dtype=pl.Int8).replace_strict(mapping, default=None, return_dtype=pl.Utf8)
