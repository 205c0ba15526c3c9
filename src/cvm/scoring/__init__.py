"""Scoring: runs the models over point-in-time hub data and keeps the score history.

- :mod:`cvm.scoring.value`: value scores (history, expected purchases, P(alive), CLV and grade);
- :mod:`cvm.scoring.grades`: the low/medium/high grading helper that later scores reuse;
- :mod:`cvm.scoring.clv_file`: the CLV of a transaction file without a workspace (``cvm clv fit``);
- :mod:`cvm.scoring.lifecycle`: churn, default and propensity models (``cvm train``), with their rooms
  :mod:`~cvm.scoring.training_data`, :mod:`~cvm.scoring.evaluation` and :mod:`~cvm.scoring.assembly`;
  :mod:`cvm.scoring.monitor` checks the champions (PSI, AUC). The modules import each other without a circle.

Importing this package loads no model; the modules above do.
"""

from cvm.scoring.grades import GradeRule, grade_by_share, grade_by_threshold, grade_counts
from cvm.scoring.report import NotEnoughDataError, ScoreReport, ScoringError

__all__ = [
    "GradeRule",
    "NotEnoughDataError",
    "ScoreReport",
    "ScoringError",
    "grade_by_share",
    "grade_by_threshold",
    "grade_counts",
]
