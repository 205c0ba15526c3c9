"""Grading by share, one batch at a time: the global ranks turned into value thresholds once, on the driver.

:func:`cvm.scoring.grades.grade_by_share` ranks every value of a score against all the others, so a batch
alone cannot grade itself. The ranks only matter through two cuts: a value is ``high`` when
``rank <= high_share * n`` and ``medium`` when ``rank <= (high_share + medium_share) * n``, where
``rank = 1 + #values strictly better``. Ranks fall as values fall, so with ``k = floor(high_share * n)``
the high values are exactly those at or above the ``k``-th best value ``v(k)`` (a tie at ``v(k)`` has a rank
of at most ``k``; anything below it has at least ``k`` values above it). The same holds for medium with
``m = floor((high_share + medium_share) * n)``. So a rule by share over ``n`` known values is the rule by
threshold ``high = v(k)``, ``medium = v(m)``, with the same floors: :func:`plan` builds it from
:class:`ScoreStats` (``n``, smallest and largest value, ``v(k)`` and ``v(m)``), which a backend aggregates
(on Spark: a window over the predictions), and :meth:`GradePlan.grade` grades any batch identically to
grading the whole base at once.

A score whose known values are all equal is not graded (as :func:`cvm.scoring.guards.grade_with_reason`):
the plan carries the reason, appended to the valued rows' reasons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cvm.scoring.grades import GradeRule, same_value_reason

#: Slack of the cuts, as in :func:`cvm.scoring.grades.grade_by_share`.
EPS = 1e-9


@dataclass(frozen=True)
class ScoreStats:
    """What grading by share needs to know of all of a score's known values."""

    n: int  # known (non-missing) values
    low: float | None  # smallest
    high: float | None  # largest
    kth: dict[int, float]  # the k-th largest value, for the k of :func:`cuts`


def cuts(n: int, rule: GradeRule) -> tuple[int, int]:
    """``(k, m)``: how many of ``n`` values can be high, and high or medium, under ``rule``'s shares."""
    if rule.higher_is_better is not True:
        raise ValueError("grade plans rank higher values first")
    k = math.floor(rule.high_share * n + EPS)
    m = math.floor((rule.high_share + rule.medium_share) * n + EPS)
    return k, m


@dataclass(frozen=True)
class GradePlan:
    """How to grade one score batch by batch: a rule by threshold, or no grade and why."""

    rule: GradeRule
    why: str | None = None

    def grade(self, values: ArrayLike, reasons: list[Any]) -> tuple[NDArray[np.object_], list[Any]]:
        """Grades of ``values`` and their reasons (with why they are not graded, on valued rows)."""
        x = np.asarray(values, dtype=np.float64)
        if self.why is not None:
            known = ~np.isnan(x)
            return np.full(x.shape, None, dtype=object), [
                f"{r};{self.why}" if k else r for r, k in zip(reasons, known, strict=True)
            ]
        return self.rule.apply(x), reasons


def stats_of(values: NDArray[np.float64], rule: GradeRule) -> ScoreStats:
    """:class:`ScoreStats` of a score's ``values`` (NaN: no value) held in one array, for ``rule``'s cuts.

    The k-th largest values come from a partial sort (:func:`numpy.partition`), in linear time and one copy
    of the known values: the whole base's values need no ranks, no sort and no grades.
    """
    known = values[~np.isnan(values)]
    n = int(known.size)
    if n == 0:
        return ScoreStats(0, None, None, {})
    wanted = sorted({c for c in cuts(n, rule) if c >= 1}) if rule.method == "quantile" else []
    positions = [n - c for c in wanted]  # the c-th largest sits at n - c in ascending order
    ordered = np.partition(known, [0, n - 1, *positions])
    return ScoreStats(n, float(ordered[0]), float(ordered[n - 1]), {c: float(ordered[n - c]) for c in wanted})


def plan(rule: GradeRule, stats: ScoreStats, what: str) -> GradePlan:
    """The :class:`GradePlan` that grades batches as ``rule`` grades the whole base described by ``stats``."""
    if rule.method != "quantile":
        return GradePlan(rule)
    if stats.n and stats.low is not None and stats.low == stats.high:
        return GradePlan(rule, same_value_reason(stats.n, stats.low, what))
    k, m = cuts(stats.n, rule)
    high = stats.kth[k] if k >= 1 else math.inf
    medium = stats.kth[m] if m >= 1 else math.inf
    return GradePlan(
        GradeRule(
            "threshold",
            high_threshold=high,
            medium_threshold=medium,
            medium_floor=rule.medium_floor,
            high_floor=rule.high_floor,
        )
    )
