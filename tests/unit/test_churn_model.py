"""ChurnModel: the estimator contract, calibration, reason codes, persistence and the backtest helper."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cvm.models import ChurnModel
from cvm.models.churn import temporal_backtest
from cvm.models.metrics import auc, ece

N = 6_000
FAST: dict[str, Any] = {"n_estimators": 150, "learning_rate": 0.08, "min_child_samples": 40, "n_jobs": 1}


def _data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Mixed columns, missing values and a known churn probability."""
    rng = np.random.default_rng(seed)
    recency = rng.exponential(90.0, n)
    plan = rng.choice(["basic", "plus", "premium"], n)
    complaints = rng.poisson(0.3, n).astype(float)
    logit = -3.2 + recency / 80.0 + 1.0 * complaints - 0.8 * (plan == "premium")
    p = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(n) < p).astype(int)
    mrr = rng.gamma(2.0, 20.0, n).round(1)
    X = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "recency_days": recency,
            "plan": plan,
            "complaints": complaints,
            "mrr_text": [f"{v:.1f}".replace(".", ",") if i % 2 else f"{v:.1f}" for i, v in enumerate(mrr)],
            "noise": rng.normal(size=n),
        }
    )
    X.loc[X.sample(frac=0.1, random_state=seed).index, "recency_days"] = np.nan
    X.loc[X.sample(frac=0.05, random_state=seed + 1).index, "plan"] = None
    return X, y, p


@pytest.fixture(scope="module")
def fitted() -> tuple[ChurnModel, pd.DataFrame, np.ndarray, np.ndarray]:
    X, y, _ = _data(N, 1)
    model = ChurnModel(**FAST).fit(X, y, training_window=("2024-01-01", "2024-03-31"))
    X_test, y_test, p_test = _data(N, 2)
    return model, X_test, y_test, p_test


def test_schema_handles_mixed_inputs(fitted: tuple[ChurnModel, pd.DataFrame, np.ndarray, np.ndarray]) -> None:
    model = fitted[0]
    assert set(model.schema_.numeric) == {"recency_days", "complaints", "mrr_text", "noise"}
    assert set(model.schema_.categorical) == {"plan"}
    assert "customer_id" not in model.features_
    assert model.get_params()["n_estimators"] == FAST["n_estimators"]


def test_predict_proba_shape_and_quality(fitted: tuple[ChurnModel, pd.DataFrame, np.ndarray, np.ndarray]) -> None:
    model, X, y, p_true = fitted
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert proba.min() >= 0.0
    assert proba.max() <= 1.0
    # Close to the AUC of the true probabilities, and calibrated on fresh data.
    assert auc(y, proba[:, 1]) > auc(y, p_true) - 0.03
    assert ece(y, proba[:, 1]) < 0.03


def test_polars_input_gives_the_same_answer(fitted: tuple[ChurnModel, pd.DataFrame, np.ndarray, np.ndarray]) -> None:
    model, X, _, _ = fitted
    head = X.head(50)
    assert np.allclose(model.predict_proba(pl.from_pandas(head)), model.predict_proba(head))


def test_unknown_category_is_treated_as_missing(
    fitted: tuple[ChurnModel, pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    model, X, _, _ = fitted
    rows = X.head(5).copy()
    unknown, missing = rows.assign(plan="enterprise"), rows.assign(plan=None)
    assert np.allclose(model.predict_proba(unknown), model.predict_proba(missing))


def test_text_numbers_parse_like_numbers(fitted: tuple[ChurnModel, pd.DataFrame, np.ndarray, np.ndarray]) -> None:
    model, X, _, _ = fitted
    rows = X.head(20).copy()
    as_float = rows.assign(mrr_text=rows["mrr_text"].str.replace(",", ".").astype(float))
    assert np.allclose(model.predict_proba(rows), model.predict_proba(as_float))


def test_missing_column_is_named(fitted: tuple[ChurnModel, pd.DataFrame, np.ndarray, np.ndarray]) -> None:
    model, X, _, _ = fitted
    with pytest.raises(ValueError, match="complaints"):
        model.predict_proba(X.drop(columns="complaints"))


def test_contributions_add_up_and_reasons_are_ordered(
    fitted: tuple[ChurnModel, pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    model, X, _, _ = fitted
    rows = X.head(200)
    contrib = model.contributions(rows)
    assert np.allclose(contrib.sum(axis=1), model.decision_function(rows), atol=1e-6)
    reasons = model.reasons(rows, top=3)
    assert len(reasons) == len(rows)
    values = contrib.drop(columns="bias")
    for i, codes in enumerate(reasons):
        assert len(codes) <= 3
        got = [values.iloc[i][c] for c in codes]
        assert got == sorted(got, reverse=True)
        assert all(v > 0 for v in got)
        rest = values.iloc[i].drop(codes)
        assert not codes or rest.max() <= got[-1]
    high = rows.assign(recency_days=1000.0, complaints=4.0)
    assert set(model.reasons(high, top=2)[0]) == {"recency_days", "complaints"}


def test_evaluate_reports_the_metrics(fitted: tuple[ChurnModel, pd.DataFrame, np.ndarray, np.ndarray]) -> None:
    model, X, y, _ = fitted
    report = model.evaluate(X, y)
    assert {"auc", "pr_auc", "brier", "ece", "lift_by_decile"} <= set(report)
    assert report["lift_by_decile"][0] > 2.0
    assert model.metrics_["n_train"] == N


def test_platt_calibration() -> None:
    X, y, _ = _data(3_000, 3)
    model = ChurnModel(**FAST, calibration="platt").fit(X, y)
    assert model.calibrator_["method"] == "platt"
    assert 0.0 < model.predict_proba(X)[:, 1].mean() < 1.0


def test_save_and_load_round_trip(
    fitted: tuple[ChurnModel, pd.DataFrame, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    model, X, _, _ = fitted
    folder = model.save(tmp_path / "churn")
    loaded = ChurnModel.load(folder)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.reasons(X.head(3)) == model.reasons(X.head(3))
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["training_window"] == ["2024-01-01", "2024-03-31"]
    assert meta["model"] == "churn"
    assert {"parameters", "version", "features", "metrics"} <= set(meta)


def test_load_refuses_incomplete_metadata(
    fitted: tuple[ChurnModel, pd.DataFrame, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    folder = fitted[0].save(tmp_path / "churn")
    meta = json.loads((folder / "meta.json").read_text())
    del meta["training_window"]
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="training_window"):
        ChurnModel.load(folder)
    with pytest.raises(ValueError, match=r"meta\.json is missing"):
        ChurnModel.load(tmp_path / "nowhere")


def test_parameters_and_fitted_state_are_checked() -> None:
    X, y, _ = _data(500, 4)
    with pytest.raises(ValueError, match="learning_rate"):
        ChurnModel(learning_rate=0.0).fit(X, y)
    with pytest.raises(RuntimeError, match="not fitted"):
        ChurnModel().predict_proba(X)
    with pytest.raises(ValueError, match="both classes"):
        ChurnModel(**FAST).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="missing labels"):
        ChurnModel(**FAST).fit(X, np.full(len(X), np.nan))


def test_temporal_backtest() -> None:
    older, newer = _data(3_000, 5), _data(3_000, 6)
    result = temporal_backtest(ChurnModel(**FAST), (older[0], older[1]), (newer[0], newer[1]))
    assert result["test"]["auc"] > 0.7
    assert result["psi"] < 0.1
    assert {"fit", "test", "psi"} == set(result)
