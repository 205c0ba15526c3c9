"""Held-out evaluation of the life-cycle models: their scores, their metrics, champion against challenger.

Training measures each model on its held-out window (:mod:`cvm.scoring.training_data`), monitoring
measures the champions again on the latest labelled window (:mod:`cvm.scoring.monitor`), and
promotion compares a challenger with its champion on the same window (:func:`compare`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cvm.config.settings import Settings
from cvm.models.metrics import classification_report
from cvm.scoring.registry import ModelVersion
from cvm.scoring.training_data import LABEL_COLUMN, data_end, labelled_dates, labelled_frame
from cvm.store import OfflineStore

METRICS = ("n", "event_rate", "auc", "gini", "ks", "brier")


def predict_scores(name: str, model: Any, x: pd.DataFrame) -> dict[str, pd.Series]:
    """The scores a model gives ``x``: churn probability, scorecard points, or one per target."""
    if name == "churn":
        return {"churn": pd.Series(model.predict_proba(x)[:, 1], index=x.index)}
    if name == "default":
        return {"default_points": pd.Series(model.scores(x), index=x.index)}
    proba: pd.DataFrame = model.predict_proba(x)
    return {str(c): proba[c] for c in proba.columns}


def evaluate(name: str, model: Any, x: pd.DataFrame, y: pd.DataFrame) -> dict[str, Any]:
    """AUC, Gini, KS and event rate on ``(x, y)``; for propensity per target, ``auc`` their mean."""
    if name != "propensity":
        p = model.predict_proba(x)[:, 1]
        report = classification_report(y[LABEL_COLUMN[name]].to_numpy(), p)
        return {k: report[k] for k in METRICS}
    per: dict[str, Any] = {}
    proba = model.predict_proba(x)
    for target in model.targets_:
        if target in y.columns:
            rows = y[target].notna().to_numpy()
            labels = y.loc[rows, target].to_numpy()
            if 0 < labels.sum() < labels.size:
                r = classification_report(labels, proba.loc[rows, target].to_numpy())
                per[target] = {k: r[k] for k in METRICS}
    aucs = [v["auc"] for v in per.values()]
    return {"auc": float(np.mean(aucs)) if aucs else float("nan"), "targets": per}


def compare(store: OfflineStore, s: Settings, champion: ModelVersion, challenger: ModelVersion) -> dict[str, Any]:
    """AUC of champion and challenger on the same (latest labelled) window of today's data."""
    name = challenger.name
    day = labelled_dates(name, s, data_end(store))[0]
    products = list(challenger.meta.get("products") or champion.meta.get("products") or [])
    x, y = labelled_frame(store, name, day, s, products)
    return {
        "window": day.isoformat(),
        "champion": champion.version,
        "challenger": challenger.version,
        "champion_auc": evaluate(name, champion.load(), x, y)["auc"],
        "challenger_auc": evaluate(name, challenger.load(), x, y)["auc"],
    }
