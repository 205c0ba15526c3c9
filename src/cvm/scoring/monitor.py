"""Model monitoring: population stability (PSI) of features and scores, and AUC on fresh labels.

The training population is summarised at ``cvm train`` time as a *profile* per feature and per
score (kept in the registry's ``meta.json``): the shares of ten quantile bins of the training values
plus a share of missing values (numbers), or the share of each category. The scoring population is
binned the same way, and PSI = Σ (a − e)·ln(a / e) (the usual thresholds: below 0.10 stable,
0.10–0.25 monitor, above 0.25 shifted).

A warning is raised when a feature's or a score's PSI exceeds 0.25, or when a champion's AUC on
the latest labelled window is more than 0.05 below its AUC at training time.

Imports from a sibling stage: :mod:`cvm.features` (``build_features``): the fresh labelled window is
built with the same feature definitions the model was trained on.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> base = profile(pd.Series(rng.normal(size=5000)))
>>> round(psi_of(base, pd.Series(rng.normal(size=5000))), 2) < 0.1
True
>>> psi_of(base, pd.Series(rng.normal(1.0, 1.0, 5000))) > 0.25
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cvm.config.settings import Settings
from cvm.features import build_features
from cvm.features.build import Source
from cvm.features.on_backend import remote
from cvm.models.metrics import psi_from_shares
from cvm.scoring.evaluation import evaluate, predict_scores
from cvm.scoring.monitor_sql import Counts, feature_counts, sampled_features
from cvm.scoring.registry import MODEL_NAMES, ModelRegistry
from cvm.scoring.training_data import data_end, labelled_dates, labelled_frame

STABLE, SHIFTED = 0.10, 0.25
AUC_DROP = 0.05
BINS = 10


def _numeric(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype))


def profile(values: pd.Series, bins: int = BINS) -> dict[str, Any]:
    """Bin edges and shares of ``values`` (numbers), or category shares (anything else)."""
    n = max(len(values), 1)
    missing = values.isna()
    if _numeric(values):
        known = values[~missing].to_numpy(dtype=np.float64)
        edges = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1))[1:-1]) if known.size else np.array([])
        counts = np.bincount(np.searchsorted(edges, known, side="right"), minlength=edges.size + 1)
        return {"edges": edges.tolist(), "shares": (counts / n).tolist(), "missing": float(missing.sum() / n)}
    shares = values[~missing].astype(str).value_counts() / n
    return {"categories": {str(k): float(v) for k, v in shares.items()}, "missing": float(missing.sum() / n)}


def shares_of(prof: dict[str, Any], values: pd.Series) -> tuple[list[float], list[float]]:
    """Expected (profile) and actual shares of ``values`` on the profile's bins, missing last."""
    missing = values.isna()
    if "edges" in prof:
        known = pd.to_numeric(values[~missing], errors="coerce").to_numpy(dtype=np.float64)
        edges = np.asarray(prof["edges"], dtype=np.float64)
        counts = np.bincount(np.searchsorted(edges, known, side="right"), minlength=edges.size + 1).tolist()
    else:
        seen = values[~missing].astype(str).value_counts()
        cats = list(prof["categories"])
        counts = [int(seen.get(c, 0)) for c in cats] + [int(seen[~seen.index.isin(cats)].sum())]
    return shares_from_counts(prof, len(values), counts, int(missing.sum()))


def shares_from_counts(
    prof: dict[str, Any], n: int, counts: list[int], missing: int
) -> tuple[list[float], list[float]]:
    """Expected (profile) and actual shares of a population of ``n`` rows with ``counts`` per bin (per category,
    then any other value) and ``missing`` values; missing last."""
    n = max(n, 1)
    actual = [c / n for c in counts] + [missing / n]
    if "edges" in prof:
        return [*prof["shares"], prof["missing"]], actual
    return [*prof["categories"].values(), 0.0, prof["missing"]], actual


def psi_of(prof: dict[str, Any], values: pd.Series) -> float:
    """PSI of ``values`` against a training profile."""
    expected, actual = shares_of(prof, values)
    return psi_from_shares(expected, actual)


def profiles(frame: pd.DataFrame, columns: list[str]) -> dict[str, dict[str, Any]]:
    """A profile per column of ``frame`` that it has."""
    return {c: profile(frame[c]) for c in columns if c in frame.columns}


def status_of(value: float) -> str:
    """``stable``, ``monitor`` or ``shifted`` (the usual PSI thresholds: 0.10 and 0.25)."""
    return "stable" if value < STABLE else "monitor" if value <= SHIFTED else "shifted"


@dataclass
class ModelCheck:
    """The monitoring result of one champion."""

    name: str
    version: str
    score_psi: dict[str, float] = field(default_factory=dict)
    feature_psi: dict[str, float] = field(default_factory=dict)
    auc_train: float | None = None
    auc_now: float | None = None
    auc_window: str | None = None
    warnings: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Fill ``warnings`` from the PSI and AUC figures."""
        for kind, values in (("score", self.score_psi), ("feature", self.feature_psi)):
            for key, value in sorted(values.items(), key=lambda kv: -kv[1]):
                if value > SHIFTED:
                    self.warnings.append(f"{self.name}: {kind} {key} shifted, PSI {value:.3f} > {SHIFTED}")
        if self.auc_train is not None and self.auc_now is not None and self.auc_train - self.auc_now > AUC_DROP:
            self.warnings.append(
                f"{self.name}: AUC fell from {self.auc_train:.3f} to {self.auc_now:.3f} on {self.auc_window}"
                f" (more than {AUC_DROP})"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "auc_train": self.auc_train,
            "auc_now": self.auc_now,
            "auc_window": self.auc_window,
            "score_psi": self.score_psi,
            "feature_psi": dict(sorted(self.feature_psi.items(), key=lambda kv: -kv[1])),
            "warnings": self.warnings,
        }


@dataclass
class MonitorReport:
    """PSI and AUC checks of every champion as of a date."""

    as_of: date
    models: list[ModelCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [w for m in self.models for w in m.warnings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "ok": not self.warnings,
            "warnings": self.warnings,
            "models": [m.to_dict() for m in self.models],
            "notes": self.notes,
        }


def check_population(
    name: str, version: str, baseline: dict[str, Any], features: pd.DataFrame, scores: dict[str, pd.Series]
) -> ModelCheck:
    """PSI of each profiled feature and score of the scoring population against the training one."""
    result = ModelCheck(name, version)
    for column, prof in baseline.get("features", {}).items():
        if column in features.columns:
            result.feature_psi[column] = round(psi_of(prof, features[column]), 4)
    return _with_scores(result, baseline, scores)


def check_counts(
    name: str, version: str, baseline: dict[str, Any], rows: int, counts: Counts, scores: dict[str, pd.Series]
) -> ModelCheck:
    """:func:`check_population` with the features' bin counts of ``rows`` customers (:mod:`.monitor_sql`)."""
    result = ModelCheck(name, version)
    for column, prof in baseline.get("features", {}).items():
        if column in counts:
            expected, actual = shares_from_counts(prof, rows, *counts[column])
            result.feature_psi[column] = round(psi_from_shares(expected, actual), 4)
    return _with_scores(result, baseline, scores)


def _with_scores(result: ModelCheck, baseline: dict[str, Any], scores: dict[str, pd.Series]) -> ModelCheck:
    for key, prof in baseline.get("scores", {}).items():
        if key in scores:
            result.score_psi[key] = round(psi_of(prof, scores[key]), 4)
    return result


def monitor(source: Source, workspace: Path, s: Settings, as_of: date | None = None) -> MonitorReport:
    """PSI of every champion's features and scores at ``as_of`` (default: the end of the data) against
    the base at its training, and its AUC on the latest labelled window against the AUC at training.

    ``source`` is the offline store or its backend; on a remote one (Spark) the features are binned there and
    the scores' PSI is taken on a stated sample (:mod:`cvm.scoring.monitor_sql`).
    """
    end = data_end(source)
    report = MonitorReport(as_of or end)
    champions = {n: c for n, c in ModelRegistry(workspace).champions().items() if n in MODEL_NAMES}
    if not champions:
        report.notes.append("no trained champion (run `cvm train`)")
        return report
    products = sorted({p for c in champions.values() for p in c.meta.get("products", [])})
    backend = remote(source)
    if backend is None:
        x = build_features(source, report.as_of, products=products).to_pandas()
    else:
        x = sampled_features(backend, report.as_of, products, s.models.max_training_rows)
    for name, entry in champions.items():
        model = entry.load()
        baseline = entry.meta.get("baseline", {})
        scores = predict_scores(name, model, x)
        if backend is None:
            result = check_population(name, entry.version, baseline, x, scores)
        else:
            rows, counts = feature_counts(backend, report.as_of, products, baseline.get("features", {}))
            result = check_counts(name, entry.version, baseline, rows, counts, scores)
            if rows > len(x):
                report.notes.append(f"{name}: scores' PSI on a sample of {len(x)} of {rows} customers")
        day = labelled_dates(name, s, end)[0]
        result.auc_window = day.isoformat()
        result.auc_train = _float(entry.meta["metrics"].get("auc"))
        try:
            hx, hy = labelled_frame(source, name, day, s, list(entry.meta.get("products", [])))
            result.auc_now = _float(evaluate(name, model, hx, hy)["auc"])
        except ValueError as exc:
            report.notes.append(f"{name}: no AUC on {day} ({exc})")
        result.check()
        report.models.append(result)
    return report


def _float(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)
