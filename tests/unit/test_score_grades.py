"""The grading helpers of the scores (cvm.scoring.grades) and the model-version naming (cvm.scoring.models)."""

from __future__ import annotations

import numpy as np
import pytest

from cvm.scoring import GradeRule, grade_by_share, grade_by_threshold, grade_counts
from cvm.scoring.models import model_version


def test_grade_by_share_gives_ties_one_grade_and_skips_missing() -> None:
    assert grade_by_share([10, 8, 8, 5, 1], 0.2, 0.4).tolist() == ["high", "medium", "medium", "low", "low"]
    assert grade_by_share([3.0, None, 1.0, 2.0], 0.34, 0.33).tolist() == ["high", None, "low", "medium"]
    assert grade_by_share([0.0] * 10).tolist() == [None] * 10  # a constant score ranks nobody: no grade (issue 15)
    risk = grade_by_share([0.9, 0.1, 0.5, 0.3, 0.7], 0.2, 0.4, higher_is_better=False)
    assert risk.tolist() == ["low", "high", "medium", "medium", "low"]
    values = np.arange(1000.0)
    assert grade_counts(grade_by_share(values)) == {"high": 200, "medium": 300, "low": 500}
    with pytest.raises(ValueError, match="shares"):
        grade_by_share(values, 0.8, 0.3)


def test_grade_by_threshold_and_rule() -> None:
    assert grade_by_threshold([10.0, 6.0, 5.9, None], high=10, medium=6).tolist() == ["high", "medium", "low", None]
    rule = GradeRule("threshold", high_threshold=100.0, medium_threshold=10.0)
    assert rule.apply([500.0, 50.0, 5.0]).tolist() == ["high", "medium", "low"]
    assert "high >= 100.00" in rule.describe()
    with pytest.raises(ValueError, match="threshold"):
        GradeRule("threshold").apply([1.0])


def test_model_version_names_the_model_and_hashes_the_parameters() -> None:
    v = model_version("bgnbd", {"r": 0.24, "alpha": 4.4})
    assert v.startswith("bgnbd-")
    assert len(v) == len("bgnbd-") + 8
    assert v == model_version("bgnbd", {"alpha": 4.4, "r": 0.24})
    assert v != model_version("bgnbd", {"r": 0.25, "alpha": 4.4})
