"""Monitoring: PSI of profiled features and scores, statuses and warnings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cvm.models.metrics import psi
from cvm.scoring.monitor import ModelCheck, check_population, profile, psi_of, status_of


def test_profile_psi_matches_the_metric_and_flags_a_shift() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=20_000)
    base = profile(pd.Series(train))
    same = rng.normal(size=20_000)
    assert psi_of(base, pd.Series(same)) == pytest.approx(psi(train, same), abs=1e-9)
    assert status_of(psi_of(base, pd.Series(same))) == "stable"
    assert status_of(psi_of(base, pd.Series(rng.normal(0.4, 1.0, 20_000)))) == "monitor"
    assert status_of(psi_of(base, pd.Series(rng.normal(1.0, 1.0, 20_000)))) == "shifted"


def test_missing_values_and_categories_count() -> None:
    base = profile(pd.Series([1.0, 2.0, None, 4.0] * 500))
    assert base["missing"] == pytest.approx(0.25)
    assert psi_of(base, pd.Series([None] * 1000 + [1.0] * 1000)) > 0.25
    kinds = profile(pd.Series(["B2B", "B2C", "B2C", None] * 100))
    assert psi_of(kinds, pd.Series(["B2B", "B2C", "B2C", None] * 50)) == pytest.approx(0.0)
    assert psi_of(kinds, pd.Series(["new"] * 200)) > 0.25  # an unseen category is a shift


def test_warning_fires_on_a_shifted_population_and_an_auc_drop() -> None:
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"late_share": rng.beta(1, 6, 5000), "kind": rng.choice(["a", "b"], 5000)})
    baseline = {
        "features": {c: profile(train[c]) for c in train},
        "scores": {"churn": profile(pd.Series(rng.beta(1, 9, 5000)))},
    }
    stable = check_population("churn", "v1", baseline, train, {"churn": pd.Series(rng.beta(1, 9, 5000))})
    stable.check()
    assert stable.warnings == []
    shifted_x = train.assign(late_share=rng.beta(3, 3, 5000))
    shifted = check_population("churn", "v1", baseline, shifted_x, {"churn": pd.Series(rng.beta(3, 5, 5000))})
    shifted.auc_train, shifted.auc_now, shifted.auc_window = 0.80, 0.70, "2024-06-01"
    shifted.check()
    text = " ".join(shifted.warnings)
    assert "feature late_share shifted" in text
    assert "score churn shifted" in text
    assert "AUC fell" in text
    assert "kind" not in text
    small = ModelCheck("churn", "v1", auc_train=0.80, auc_now=0.77)
    small.check()
    assert small.warnings == []
