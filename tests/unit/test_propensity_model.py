"""PropensityModel: one calibrated model per product over its eligible customers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cvm.models import PropensityModel
from cvm.models.metrics import lift_by_decile

N = 6_000
FAST: dict[str, Any] = {"n_estimators": 120, "learning_rate": 0.08, "min_child_samples": 40, "n_jobs": 1}


def _data(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two products: plus is bought by big spenders, support by business customers; holders are not eligible."""
    rng = np.random.default_rng(seed)
    spend = rng.gamma(2.0, 50.0, n)
    kind = rng.choice(["B2B", "B2C"], n, p=[0.3, 0.7])
    X = pd.DataFrame(
        {"customer_id": np.arange(n).astype(str), "spend": spend, "kind": kind, "tenure": rng.integers(1, 900, n)}
    )
    p_plus = 1 / (1 + np.exp(-(-4.0 + spend / 60.0)))
    p_support = np.where(kind == "B2B", 0.12, 0.01)
    holds_support = rng.random(n) < 0.2
    Y = pd.DataFrame(
        {
            "adopt_plus": (rng.random(n) < p_plus).astype(float),
            "adopt_support": np.where(holds_support, np.nan, (rng.random(n) < p_support).astype(float)),
        }
    )
    return X, Y


@pytest.fixture(scope="module")
def fitted() -> tuple[PropensityModel, pd.DataFrame, pd.DataFrame]:
    X, Y = _data(N, 1)
    model = PropensityModel(**FAST).fit(X, Y, training_window=("2024-01-01", "2024-03-31"))
    X_test, Y_test = _data(N, 2)
    return model, X_test, Y_test


def test_one_model_per_target_on_eligible_rows(fitted: tuple[PropensityModel, pd.DataFrame, pd.DataFrame]) -> None:
    model = fitted[0]
    assert model.targets_ == ["adopt_plus", "adopt_support"]
    assert model.models_["adopt_plus"].metrics_["n_train"] == N
    assert model.models_["adopt_support"].metrics_["n_train"] < 0.85 * N


def test_probabilities_per_product_and_lift(fitted: tuple[PropensityModel, pd.DataFrame, pd.DataFrame]) -> None:
    model, X, Y = fitted
    proba = model.predict_proba(X)
    assert list(proba.columns) == ["adopt_plus", "adopt_support"]
    assert proba.index.equals(X.index)
    assert ((proba >= 0) & (proba <= 1)).all().all()
    report = model.evaluate(X, Y)
    assert set(report) == {"adopt_plus", "adopt_support"}
    for name in report:
        rows = Y[name].notna().to_numpy()
        assert lift_by_decile(Y[name][rows], proba[name][rows])[0] >= 2.5
        assert report[name]["ece"] < 0.03


def test_reasons(fitted: tuple[PropensityModel, pd.DataFrame, pd.DataFrame]) -> None:
    model, X, _ = fitted
    rows = X.head(12)
    assert model.reasons(rows, top=2, target="adopt_plus") == model.models_["adopt_plus"].reasons(rows, 2)
    best = model.predict_proba(rows).to_numpy().argmax(axis=1)
    mixed = model.reasons(rows, top=2)
    for i, codes in enumerate(mixed):
        assert codes == model.models_[model.targets_[best[i]]].reasons(rows.iloc[[i]], 2)[0]
    with pytest.raises(ValueError, match="unknown target"):
        model.reasons(rows, target="adopt_gold")


def test_contract_checks(fitted: tuple[PropensityModel, pd.DataFrame, pd.DataFrame]) -> None:
    model, X, Y = fitted
    with pytest.raises(ValueError, match="spend"):
        model.predict_proba(X.drop(columns="spend"))
    with pytest.raises(ValueError, match="at least min_events"):
        PropensityModel(**FAST).fit(X, Y.assign(adopt_plus=0.0))
    with pytest.raises(ValueError, match="rows"):
        PropensityModel(**FAST).fit(X, Y.head(10))
    unknown = model.predict_proba(X.head(3).assign(kind="B2G"))
    assert unknown.notna().all().all()


def test_save_and_load(fitted: tuple[PropensityModel, pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    model, X, _ = fitted
    folder = model.save(tmp_path / "propensity")
    loaded = PropensityModel.load(folder)
    pd.testing.assert_frame_equal(loaded.predict_proba(X), model.predict_proba(X))
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["targets"] == model.targets_
    assert meta["training_window"] == ["2024-01-01", "2024-03-31"]
    del meta["metrics"]
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="metrics"):
        PropensityModel.load(folder)
