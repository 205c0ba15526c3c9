"""Scorecard: the points scaling of docs/reference.md, WoE sign and IV, reason codes, table and persistence."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cvm.models import PointsScaling, Scorecard
from cvm.scoring.registry import SCORECARD_CSV, ModelRegistry

N = 4_000


def _data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    late = rng.beta(1.0, 4.0, n)
    rating = np.clip(rng.normal(60, 20, n), 0, 100)
    sector = rng.choice(["retail", "construction", "healthcare"], n)
    logit = -3.5 + 4.0 * late - 0.03 * (rating - 60) + 0.8 * (sector == "construction")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame(
        {
            "customer_id": np.arange(n).astype(str),
            "late_share": late,
            "rating_score": [f"{v:.1f}" for v in rating],  # numbers as text
            "sector": sector,
            "noise": rng.normal(size=n),
        }
    )
    X.loc[X.sample(frac=0.1, random_state=seed).index, "rating_score"] = None
    return X, y


@pytest.fixture(scope="module")
def fitted() -> tuple[Scorecard, pd.DataFrame, np.ndarray]:
    X, y = _data(N, 1)
    card = Scorecard(max_n_bins=5, min_iv=0.02).fit(X, y, training_window=("2023-01-01", "2023-12-31"))
    X_test, y_test = _data(N, 2)
    return card, X_test, y_test


def test_reference_scaling() -> None:
    s = PointsScaling(pdo=20, odds=50, target_score=600)
    assert s.factor == pytest.approx(28.854, abs=5e-4)
    assert s.offset == pytest.approx(487.12, abs=5e-3)
    assert s.score_of_odds(50) == pytest.approx(600.0)
    assert s.score_of_odds(100) == pytest.approx(620.0)  # double the odds: +PDO
    odds = np.array([1.0, 10.0, 200.0])
    assert np.allclose(s.score_of_odds(odds), 487.12 + 28.854 * np.log(odds), atol=0.01)
    assert s.probability_of_score(600.0) == pytest.approx(1 / 51)
    assert s.score_of_probability(1 / 51) == pytest.approx(600.0)
    with pytest.raises(ValueError, match="positive"):
        PointsScaling(pdo=0)


def test_scores_follow_the_scaling(fitted: tuple[Scorecard, pd.DataFrame, np.ndarray]) -> None:
    card, X, _ = fitted
    p_bad = card.predict_proba(X)[:, 1]
    assert np.allclose(card.scores(X), card.scaling.score_of_probability(p_bad))
    assert np.allclose(card.points(X).sum(axis=1), card.scores(X))
    custom = Scorecard(pdo=40, odds=20, target_score=500, max_n_bins=5).fit(*_data(2_000, 3))
    p = custom.predict_proba(X)[:, 1]
    assert np.allclose(custom.scores(X), 500 - 40 / math.log(2) * math.log(20) + 40 / math.log(2) * np.log((1 - p) / p))


def test_woe_sign_and_iv(fitted: tuple[Scorecard, pd.DataFrame, np.ndarray]) -> None:
    table = fitted[0].table()
    late = table[(table["characteristic"] == "late_share") & (table["count"] > 0)]
    # WoE = ln(%good / %bad): the safest bin has the largest WoE and earns the most points.
    safest = late.iloc[int(np.argmin(late["bad_rate"].to_numpy()))]
    assert safest["woe"] == late["woe"].max() > 0
    assert safest["points"] == late["points"].max()
    goods, bads = late["goods"].sum(), late["bads"].sum()
    share_good, share_bad = late["goods"] / goods, late["bads"] / bads
    assert np.allclose(late["woe"], np.log(share_good / share_bad))
    assert np.allclose(late["iv"], (share_good - share_bad) * late["woe"])
    assert (table.groupby("characteristic")["coefficient"].first() < 0).all()


def test_characteristics(fitted: tuple[Scorecard, pd.DataFrame, np.ndarray]) -> None:
    card = fitted[0]
    assert "rating_score" in card.characteristics_
    assert "late_share" in card.characteristics_
    assert "noise" not in card.characteristics_
    assert "customer_id" not in card.characteristics_
    assert card.schema_.numeric.count("rating_score") == 1


def test_reasons_are_the_biggest_point_losses(fitted: tuple[Scorecard, pd.DataFrame, np.ndarray]) -> None:
    card, X, _ = fitted
    rows = X.head(50)
    points = card.points(rows)
    best = card.table().query("count > 0").groupby("characteristic")["points"].max()
    for i, codes in enumerate(card.reasons(rows, top=2)):
        lost = (best[points.columns] - points.iloc[i]).sort_values(ascending=False, kind="stable")
        assert codes == [c for c in lost.index[:2] if lost[c] > 1e-9]


def test_unknown_category_missing_values_and_columns(fitted: tuple[Scorecard, pd.DataFrame, np.ndarray]) -> None:
    card, X, _ = fitted
    rows = X.head(5).assign(sector="mining", rating_score=None)
    assert np.isfinite(card.scores(rows)).all()
    with pytest.raises(ValueError, match="late_share"):
        card.scores(X.drop(columns="late_share"))


def test_evaluate(fitted: tuple[Scorecard, pd.DataFrame, np.ndarray]) -> None:
    card, X, y = fitted
    report = card.evaluate(X, y)
    assert report["gini"] == pytest.approx(2 * report["auc"] - 1)
    assert report["auc"] > 0.7
    assert 0 < report["ks"] < 1


def test_table_csv_and_persistence(fitted: tuple[Scorecard, pd.DataFrame, np.ndarray], tmp_path: Path) -> None:
    card, X, _ = fitted
    meta = {"training_window": {}, "features": [], "data_hash": "", "metrics": {}}
    entry = ModelRegistry(tmp_path / "ws").register("default", card, meta)  # the registry writes the table
    csv = pd.read_csv(entry.artifact / SCORECARD_CSV)
    assert list(csv.columns) == [
        "characteristic", "bin_id", "bin", "count", "count_share", "goods", "bads", "bad_rate", "woe", "iv",
        "coefficient", "points",
    ]  # fmt: skip
    assert len(csv) == len(card.table())
    folder = card.save(tmp_path / "card")
    loaded = Scorecard.load(folder)
    assert np.array_equal(loaded.scores(X), card.scores(X))
    assert loaded.reasons(X.head(5)) == card.reasons(X.head(5))
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["features"] == card.characteristics_
    assert meta["parameters"]["pdo"] == 20.0
    del meta["version"]
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="version"):
        Scorecard.load(folder)
