"""Life-cycle scores: churn, default (probability and scorecard points) and propensity per product.

The work is split in rooms, each importing only those before it (no circle; a test checks it):

- :mod:`cvm.scoring.training_data`: the labelled windows, the labels and the training frame;
- :mod:`cvm.scoring.evaluation`: held-out metrics, and a challenger against its champion (:func:`compare`);
- :mod:`cvm.scoring.assembly`: score values, grade rules and reason codes, scored per batch by
  :mod:`cvm.scoring.lifecycle_batch` and written in chunks by :mod:`cvm.scoring.lifecycle_chunks`
  (:func:`write_lifecycle_scores`, part of ``cvm score``), with the boosted models' path attributions in
  :mod:`cvm.models.attributions`;
- this module: training (:func:`train`, ``cvm train``): the estimator of each model, fitted on the
  stacked training snapshots, measured on the held-out window and registered with its metadata in
  the :class:`~cvm.scoring.registry.ModelRegistry`.

Imports from a sibling stage: :mod:`cvm.features` (features, labels and their SQL): a model trains
on point-in-time features built by the same definitions that score it.

:func:`compare` and :func:`write_lifecycle_scores` stay importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from cvm.config.settings import Settings
from cvm.errors import BadValueError
from cvm.features import build_features
from cvm.features.build import Source, products_of
from cvm.scoring.evaluation import compare, evaluate, predict_scores
from cvm.scoring.gate import gate, gate_note
from cvm.scoring.lifecycle_chunks import write_lifecycle_scores
from cvm.scoring.monitor import profile, profiles
from cvm.scoring.registry import ModelRegistry, ModelVersion, data_hash
from cvm.scoring.training_data import (
    LABEL_COLUMN,
    data_end,
    horizon,
    labelled_dates,
    labelled_frame,
    stacked_frame,
    usable_targets,
)
from cvm.store import OfflineStore
from cvm.store.backend import OfflineBackend

__all__ = ["TrainReport", "compare", "estimator", "train", "train_one", "write_lifecycle_scores"]


@dataclass
class TrainReport:
    """What ``cvm train`` did: the versions registered and anything skipped."""

    data_until: date
    models: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    backend: str = "duckdb"  # the offline backend that built the features and labels
    max_training_rows: int = 0  # the stated sample: most training rows per model (per snapshot from a cluster)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_until": self.data_until.isoformat(),
            "models": self.models,
            "notes": self.notes,
            "backend": self.backend,
            "max_training_rows": self.max_training_rows,
        }


def estimator(name: str, s: Settings) -> Any:
    """The unfitted estimator of ``name`` (``churn``, ``default`` or ``propensity``) with its settings."""
    from cvm.models import ChurnModel, PropensityModel, Scorecard

    if name == "churn":
        return ChurnModel(n_estimators=s.models.n_estimators, learning_rate=0.1)
    if name == "default":
        return Scorecard(pdo=s.risk.pdo, odds=s.risk.odds, target_score=s.risk.target_score)
    return PropensityModel(n_estimators=s.models.n_estimators, learning_rate=0.1, min_child_samples=50)


def _features_of(name: str, model: Any) -> list[str]:
    if name == "default":
        return list(model.characteristics_)
    if name == "churn":
        return list(model.features_)
    return list(next(iter(model.models_.values())).features_)


def train_one(
    store: OfflineStore,
    registry: ModelRegistry,
    name: str,
    s: Settings,
    until: date,
    products: list[str],
    base: pd.DataFrame,
    source: Source | None = None,
) -> ModelVersion:
    """Fit ``name`` on its training snapshots, measure it on the held-out window and register it.

    ``base`` is the whole base's features at ``until``: the population the model would score at
    training time, kept as the reference of the PSI checks (:mod:`cvm.scoring.monitor`). ``source``
    (default: ``store``) is where the features and labels are built (an offline backend, e.g. Spark).
    """
    data: Source = store if source is None else source
    holdout, *days = labelled_dates(name, s, until)
    x, y = stacked_frame(data, name, days, s, products)
    model = estimator(name, s)
    window = (days[-1].isoformat(), (days[0] + timedelta(days=horizon(name, s))).isoformat())
    if name == "propensity":
        targets = usable_targets(y, max(model.min_events, s.models.min_positives))
        if not targets:
            raise BadValueError(
                f"no product has {s.models.min_positives} adoptions (models.min_positives) to train a propensity model"
            )
        model.fit(x, y[targets], training_window=window)
        positives = int(min(y[t].sum() for t in targets))
    else:
        model.fit(x, y[LABEL_COLUMN[name]], training_window=window)
        positives = int(y[LABEL_COLUMN[name]].sum())
    hx, hy = labelled_frame(data, name, holdout, s, products)
    feats = _features_of(name, model)
    meta: dict[str, Any] = {
        "training_window": {
            "snapshots": [d.isoformat() for d in days],
            "holdout": holdout.isoformat(),
            "label_horizon_days": horizon(name, s),
            "data_until": until.isoformat(),
            "rows": len(x),
        },
        "features": feats,
        "products": products,
        "data_hash": data_hash(store.manifest(), [d.isoformat() for d in [holdout, *days]]),
        "metrics": (metrics := evaluate(name, model, hx, hy)),
        "gate": gate(name, metrics, positives, s.models),
        "baseline": {
            "features": profiles(base, feats),
            "scores": {k: profile(v) for k, v in predict_scores(name, model, base).items()},
        },
    }
    return registry.register(name, model, meta, eligible=meta["gate"]["passed"])


def train(
    store: OfflineStore, workspace: Path, s: Settings, until: date | None = None, backend: OfflineBackend | None = None
) -> TrainReport:
    """Train churn, default and propensity models on the data before ``until`` (default: all of it).

    With a ``backend`` (:mod:`cvm.store.backend`, e.g. Spark) the features and labels are built there and
    the models fit on the driver.
    """
    source: Source = store if backend is None else backend
    end = until or data_end(source)
    products = products_of(source, end)
    registry = ModelRegistry(workspace)
    report = TrainReport(end, backend=getattr(backend, "name", "duckdb"), max_training_rows=s.models.max_training_rows)
    base = build_features(source, end, products=products).to_pandas()
    for name in ("churn", "default", "propensity"):
        try:
            entry = train_one(store, registry, name, s, end, products, base, source)
        except ValueError as exc:
            report.notes.append(f"{name}: not trained ({exc})")
            continue
        report.models.append({**entry.summary(), "metrics": _short(entry.meta["metrics"])})
        if not entry.meta["gate"]["passed"]:
            champion = registry.champion(name)
            report.notes.append(
                gate_note(name, entry.version, entry.meta["gate"], champion.version if champion else None)
            )
    return report


def _short(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "targets"}
