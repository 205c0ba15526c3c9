"""Path attributions of the boosted models (cvm.models.attributions) and the reason codes built from them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cvm.models import ChurnModel
from cvm.models.attributions import path_contributions
from cvm.scoring.assembly import NO_REASON, top_codes


@pytest.fixture(scope="module")
def fitted() -> tuple[ChurnModel, pd.DataFrame]:
    rng = np.random.default_rng(3)
    n = 3_000
    x = pd.DataFrame(
        {"recency": rng.exponential(90.0, n), "complaints": rng.poisson(0.4, n), "noise": rng.normal(size=n)}
    )
    logit = -2.5 + x["recency"] / 70.0 + 0.9 * x["complaints"]
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    model = ChurnModel(n_estimators=40, learning_rate=0.1, min_child_samples=30, n_jobs=1).fit(x, y)
    return model, model.schema_.transform(x.iloc[:500])


def test_attributions_add_up_to_the_log_odds(fitted: tuple[ChurnModel, pd.DataFrame]) -> None:
    model, data = fitted
    contrib, names, raw = path_contributions(model, data, chunk=128)  # several chunks
    np.testing.assert_allclose(raw, model.raw_scores(data), rtol=1e-6, atol=1e-6)
    trees = model.booster_.dump_model(num_iteration=model.booster_.num_trees())["tree_info"]
    roots = sum(t["tree_structure"].get("internal_value", t["tree_structure"].get("leaf_value", 0.0)) for t in trees)
    np.testing.assert_allclose(contrib.sum(axis=1) + roots, raw, rtol=1e-4, atol=1e-4)
    assert set(names) <= set(model.features_)
    assert names[0] == "recency"  # the feature of most gain comes first


def test_top_features_keeps_the_ones_of_most_gain(fitted: tuple[ChurnModel, pd.DataFrame]) -> None:
    model, data = fitted
    contrib, names, _ = path_contributions(model, data, top_features=1)
    assert contrib.shape == (len(data), 1)
    assert names == ["recency"]


def test_top_codes_name_the_features_that_push_up() -> None:
    contrib = np.array([[0.3, -0.1, 0.5], [-0.2, -0.1, 0.0], [0.1, 0.2, 0.3]], dtype=np.float32)
    assert top_codes(contrib, ["a", "b", "c"], top=2) == ["c;a", NO_REASON, "c;b"]
    assert top_codes(np.zeros((2, 0)), []) == [NO_REASON, NO_REASON]
