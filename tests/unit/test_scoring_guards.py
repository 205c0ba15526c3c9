"""Guardrails of scoring on thin data: constant scores, grade floors, non-converged fits, the champion gate."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cvm.config.settings import ModelsSettings, ScoringSettings, Settings
from cvm.scoring import GradeRule, grade_by_share
from cvm.scoring.assembly import grade_rule
from cvm.scoring.gate import gate, gate_note
from cvm.scoring.grades import cap_by_floors, ungraded_reason
from cvm.scoring.guards import ModelNotConvergedError, captured_warnings
from cvm.scoring.value_chunks import write_value_scores
from cvm.store import OfflineStore

AS_OF = date(2025, 6, 30)


def test_ties_share_a_grade_and_a_constant_score_gets_none_with_the_reason() -> None:
    assert grade_by_share([5.0, 5.0, 5.0, 1.0, 1.0], 0.2, 0.3).tolist() == ["high", "high", "high", "low", "low"]
    assert grade_by_share([0.0] * 20).tolist() == [None] * 20
    assert grade_by_share([None, 2.0, None]).tolist() == [None] * 3  # one known value ranks above nobody
    reason = ungraded_reason([0.0] * 20, "CLV")
    assert reason == "CLV not graded: all 20 customers have the same value (0), so no one ranks above another"
    assert ungraded_reason([1.0, 2.0]) is None
    assert ungraded_reason([None, None]) is None  # nothing to grade, nothing to explain
    threshold = GradeRule("threshold", high_threshold=1.0, medium_threshold=0.5)
    assert threshold.apply([2.0, 2.0]).tolist() == ["high", "high"]  # absolute thresholds grade a constant score
    assert threshold.ungraded([2.0, 2.0]) is None


def test_floors_keep_a_tiny_probability_low_whatever_its_rank() -> None:
    p = [0.2, 4.6e-7, 1e-7, 1e-7, 1e-7]
    assert GradeRule().apply(p).tolist()[1] == "medium"  # the issue: a propensity of 4.6e-7 graded medium
    rule = grade_rule("propensity", Settings())
    assert (rule.medium_floor, rule.high_floor) == (0.001, 0.01)
    assert rule.apply(p).tolist() == ["high", "low", "low", "low", "low"]
    assert "medium only above 0.001; high only above 0.01" in rule.describe()
    assert cap_by_floors([0.03, 0.2], ["high", "high"], 0.01, 0.05).tolist() == ["medium", "high"]
    lower_is_better = cap_by_floors([0.5, 0.05], ["high", "high"], 0.4, 0.1, higher_is_better=False)
    assert lower_is_better.tolist() == ["low", "high"]  # ceilings: a value must lie below them
    assert cap_by_floors([np.nan], [None], 0.1, 0.2).tolist() == [None]


def test_a_zero_clv_is_never_high() -> None:
    from cvm.scoring.value import grade_rule as value_rule

    clv = [100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # before: the nine zeros tied at rank 2, "high"
    assert value_rule(ScoringSettings()).apply(clv).tolist() == ["high"] + ["low"] * 9
    assert value_rule(ScoringSettings(medium_floor=None, high_floor=None)).apply(clv).tolist() == ["high"] * 10
    with pytest.raises(ValueError, match="medium_floor must not exceed high_floor"):
        ScoringSettings(medium_floor=5.0, high_floor=1.0)
    with pytest.raises(ValueError, match="unknown score 'value'"):
        ModelsSettings(grade_floors={"value": (0.1, 0.2)})


def _one_purchase_each(n: int, out: Path) -> OfflineStore:
    """``n`` customers who each bought exactly once: no repeat purchase, so the BG/NBD likelihood peaks at r = 0,
    the bound of the parameter space."""
    ids = [f"C{i:07d}" for i in range(n)]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    ts = [start + timedelta(days=7 * i) for i in range(n)]
    customers = pl.DataFrame({"customer_id": ids, "kind": ["B2C"] * n, "acquired_at": [date(2024, 1, 1)] * n})
    tx = pl.DataFrame({"transaction_id": ids, "customer_id": ids, "ts": ts, "amount": [50.0] * n, "margin": [15.0] * n})
    store = OfflineStore(out / "offline")
    store.create()
    with store.transaction() as t:
        t.append("customers", customers)
        t.append("transactions", tx)
    return store


def test_a_purchase_model_at_a_bound_writes_no_scores_and_says_why_without_a_warning(tmp_path: Path) -> None:
    store = _one_purchase_each(40, tmp_path)
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        with pytest.raises(ModelNotConvergedError) as refused:
            write_value_scores(store, ScoringSettings(min_customers=5), AS_OF)
    message = str(refused.value)
    assert message.startswith("the purchase model (bgnbd) fitted on 40 customers did not converge")
    assert "the Hessian is not positive definite: some parameters are not identified" in message  # the fit's own
    assert re.search(r"parameters r=0\.000\d+, alpha=\d", message)  # r heads for its bound at 0
    assert "no value scores were written" in message
    assert "What to do: score again with more customers or a longer purchase history" in message
    assert leaked == []  # the ConvergenceWarning did not escape as a Python warning
    assert store.files("scores") == []


def test_warnings_while_scoring_become_plain_notes() -> None:
    from cvm.models.clv import ConvergenceWarning

    notes: list[str] = []
    with captured_warnings(notes):
        warnings.warn("overflow in exp", RuntimeWarning, stacklevel=1)
        warnings.warn("overflow in exp", RuntimeWarning, stacklevel=1)
        warnings.warn("BetaGeo did not converge", ConvergenceWarning, stacklevel=1)
    assert notes == ["warning while scoring: overflow in exp"]


def test_the_champion_gate() -> None:
    s = ModelsSettings()
    assert (s.min_auc, s.min_positives) == (0.55, 30)
    passed = gate("churn", {"auc": 0.71}, 140, s)
    assert passed == {"passed": True, "reasons": [], "positives": 140}
    chance = gate("churn", {"auc": 0.5}, 140, s)
    assert chance["reasons"] == ["its held-out AUC 0.500 is not above models.min_auc 0.55"]
    assert not gate("churn", {"auc": 0.55}, 140, s)["passed"]  # at the margin is not above it
    unmeasured = gate("default", {"auc": float("nan")}, 12, s)
    assert unmeasured["reasons"] == [
        "its held-out AUC could not be measured (the held-out window has a single class)",
        "it was trained on 12 bads, fewer than models.min_positives 30",
    ]
    assert gate_note("churn", "v4", chance, "v2").endswith("; the champion v2 stays")
    assert "no churn scores are written" in gate_note("churn", "v1", chance, None)
