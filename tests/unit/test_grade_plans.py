"""Grading by share batch by batch (cvm.scoring.grade_plans) gives the grades of the whole base at once."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from cvm.scoring.grade_plans import ScoreStats, cuts, plan, stats_of
from cvm.scoring.grades import GradeRule
from cvm.scoring.guards import grade_with_reason


def _stats(values: np.ndarray, rule: GradeRule) -> ScoreStats:
    known = np.sort(values[~np.isnan(values)])[::-1]
    kth = {c: float(known[c - 1]) for c in cuts(known.size, rule) if c >= 1}
    lo, hi = (float(known.min()), float(known.max())) if known.size else (None, None)
    return ScoreStats(int(known.size), lo, hi, kth)


def _in_batches(values: np.ndarray, rule: GradeRule, size: int) -> tuple[list[object], list[str]]:
    graded = plan(rule, stats_of(values, rule), "churn")
    grades: list[object] = []
    reasons: list[str] = []
    for start in range(0, values.size, size):
        part = values[start : start + size]
        g, r = graded.grade(part, ["r"] * part.size)
        grades += list(g)
        reasons += r
    return grades, reasons


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "rule",
    [
        GradeRule(),
        GradeRule("quantile", 0.1, 0.45, medium_floor=0.3, high_floor=0.6),
        GradeRule("quantile", 0.29, 0.0),
        GradeRule("threshold", high_threshold=0.7, medium_threshold=0.4, medium_floor=0.5),
    ],
)
def test_batches_grade_as_the_whole_base(seed: int, rule: GradeRule) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    values = np.round(rng.random(n), int(rng.integers(1, 4)))  # few decimals: many ties across the cuts
    values[rng.random(n) < 0.2] = np.nan
    whole, reasons_whole, _ = grade_with_reason(rule, values, ["r"] * n, "churn")
    grades, reasons = _in_batches(values, rule, int(rng.integers(1, 50)))
    assert grades == list(whole)
    assert reasons == reasons_whole


@pytest.mark.parametrize("seed", range(6))
def test_stats_of_an_array_are_those_of_a_full_sort(seed: int) -> None:
    """The partial sort of :func:`stats_of` finds the same n, extremes and k-th largest values as a sort."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    values = np.round(rng.random(n), int(rng.integers(1, 4)))
    values[rng.random(n) < 0.2] = np.nan
    for rule in (GradeRule(), GradeRule("quantile", 0.1, 0.45), GradeRule("quantile", 0.29, 0.0)):
        assert stats_of(values, rule) == _stats(values, rule)
    assert stats_of(np.full(3, np.nan), GradeRule()) == ScoreStats(0, None, None, {})


@pytest.mark.parametrize("values", [[0.3, 0.3, np.nan, 0.3], [0.5], [np.nan, np.nan]])
def test_a_score_equal_for_everyone_is_not_graded_and_says_why(values: list[float]) -> None:
    x = np.asarray(values)
    rule = GradeRule()
    whole, reasons_whole, _ = grade_with_reason(rule, x, ["r"] * x.size, "churn")
    grades, reasons = _in_batches(x, rule, 1)
    assert grades == list(whole) == [None] * x.size
    assert reasons == reasons_whole


def test_an_empty_partition_gives_no_rows_with_the_tables_columns() -> None:
    import pyarrow as pa

    from cvm.contracts.tables import SCORES
    from cvm.scoring.lifecycle_batch import Champions, rows_batch, values_batch

    empty = pa.RecordBatch.from_pydict({"customer_id": pa.array([], pa.string())})
    assert values_batch(Champions({}), {}, empty).column_names == ["score", "value"]
    rows = rows_batch(Champions({}), {}, date(2024, 6, 1), {}, empty)
    assert rows.num_rows == 0
    assert rows.column_names == list(SCORES.column_names)
