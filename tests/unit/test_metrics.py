"""Metrics against scikit-learn and hand-computed reference values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score  # type: ignore[import-untyped]

from cvm.models import metrics as m

Y = np.array([0, 0, 1, 1, 0, 1, 0, 0, 1, 0])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.7, 0.05, 0.3, 0.6, 0.65])


def test_auc_pr_auc_brier_match_sklearn() -> None:
    assert m.auc(Y, P) == pytest.approx(roc_auc_score(Y, P))
    assert m.pr_auc(Y, P) == pytest.approx(average_precision_score(Y, P))
    assert m.brier(Y, P) == pytest.approx(brier_score_loss(Y, P))
    assert m.gini(Y, P) == pytest.approx(2 * roc_auc_score(Y, P) - 1)


def test_gini_and_ks_by_hand() -> None:
    y, p = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    assert m.gini(y, p) == pytest.approx(0.5)  # AUC 3/4
    # Descending scores: bad, good, bad, good -> cum bad 1/2, 1/2, 1, 1; cum good 0, 1/2, 1/2, 1.
    assert m.ks(y, p) == pytest.approx(0.5)
    assert m.ks([0, 1], [0.2, 0.9]) == pytest.approx(1.0)
    # Tied scores are evaluated together: one threshold only, KS 0.
    assert m.ks([0, 1], [0.5, 0.5]) == pytest.approx(0.0)


def test_ks_matches_the_roc_definition() -> None:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(Y, P)
    assert m.ks(Y, P) == pytest.approx(float(np.max(tpr - fpr)))


def test_psi_by_hand() -> None:
    # Shares 0.5/0.5 against 0.25/0.75: (0.25-0.5)·ln(0.5) + (0.75-0.5)·ln(1.5).
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert m.psi_from_shares([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected)
    assert m.psi([1, 2, 3, 4], [1, 3, 4, 4], bins=2) == pytest.approx(expected)
    assert m.psi(P, P) == pytest.approx(0.0)
    assert m.psi_from_shares([0.5, 0.5], [1.0, 0.0]) > 1.0  # empty bin floored at eps, stays finite


def test_ece_by_hand() -> None:
    y, p = [0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]
    assert m.ece(y, p) == pytest.approx((0.1 + 0.1 + 0.2 + 0.3) / 4)
    # Two equal-size bins: {0.1, 0.3} (rate 0, mean 0.2) and {0.8, 0.9} (rate 1, mean 0.85).
    assert m.ece(y, p, bins=2, strategy="quantile") == pytest.approx((2 * 0.2 + 2 * 0.15) / 4)
    assert m.ece([0, 1], [0.0, 1.0]) == pytest.approx(0.0)


def test_lift_by_decile() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 10)
    p = np.linspace(1.0, 0.0, y.size)
    lifts = m.lift_by_decile(y, p)
    assert len(lifts) == 10
    assert lifts[0] == pytest.approx(1.0)
    ranked = m.lift_by_decile(np.sort(y)[::-1], p)
    assert ranked[0] == pytest.approx(5.0)
    assert ranked[1] == pytest.approx(5.0)
    assert ranked[2] == 0.0


def test_classification_report_and_validation() -> None:
    report = m.classification_report(Y, P)
    assert set(report) >= {"auc", "pr_auc", "brier", "ece", "gini", "ks", "lift_by_decile", "n", "event_rate"}
    with pytest.raises(ValueError, match="only 0 and 1"):
        m.auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="differ in length"):
        m.brier([0, 1], [0.1])
    with pytest.raises(ValueError, match="unknown strategy"):
        m.ece(Y, P, strategy="other")  # type: ignore[arg-type]
