"""Life-cycle scores: churn, default (probability and scorecard points) and propensity per product.

Training (:func:`train`, ``cvm train``)
    Each model is trained on point-in-time features (:func:`cvm.features.build_features`) joined to
    its labels (:mod:`cvm.features.labels`) at snapshot dates chosen so that the labels are observed:
    the latest labelled date is the end of the data minus the label horizon (plus the inactivity
    period for churn). That latest window is held out and measures the model out of time; the
    ``snapshots`` earlier ones, ``snapshot_step_days`` apart, are stacked for training. Each fitted
    model goes to the :class:`~cvm.scoring.registry.ModelRegistry` with its metadata.

Scoring (:func:`score_lifecycle`, part of ``cvm score``)
    The champions score every customer acquired before ``as_of``: ``churn`` (probability),
    ``default`` (probability of bad) and ``default_points`` (scorecard points), and
    ``propensity:<product>`` (probability of adopting the product; empty for holders) plus
    ``propensity:upsell``. Grades low/medium/high come from :class:`cvm.scoring.grades.GradeRule`
    (the one grading helper; ``default_points`` carries the grade of ``default``); reasons are the
    top-3 reason codes joined by ``;``.

Reason codes of the boosted models are path attributions (Saabas 2014, "Interpreting random
forests"): each split on a row's path credits its feature with the change of the node value. They
add up to the log-odds like TreeSHAP, at a fraction of its cost (a leaf lookup per tree), which is
what scoring a million customers needs.

Imports from a sibling stage: :mod:`cvm.features` (features, labels and their SQL): a model trains
on point-in-time features built by the same definitions that score it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cvm.config.settings import Settings
from cvm.features import adoption_labels, build_features, churn_labels, default_labels
from cvm.features.build import connection, products_before
from cvm.features.labels import observed_until
from cvm.features.sql import product_slug
from cvm.models.churn import BoostedClassifier, reason_codes
from cvm.models.metrics import classification_report
from cvm.scoring.grades import GradeRule, grade_counts
from cvm.scoring.monitor import profile, profiles
from cvm.scoring.registry import ModelRegistry, ModelVersion, data_hash
from cvm.scoring.rows import SCORE_COLUMNS
from cvm.store import OfflineStore

LABEL_COLUMN = {"churn": "churn", "default": "defaulted"}
TOP = 3
NO_REASON = "no adverse factor"


@dataclass
class TrainReport:
    """What ``cvm train`` did: the versions registered and anything skipped."""

    data_until: date
    models: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"data_until": self.data_until.isoformat(), "models": self.models, "notes": self.notes}


# -- windows and frames --------------------------------------------------------------------------
def data_end(store: OfflineStore) -> date:
    """The first day without data (the day after the latest transaction, invoice or subscription)."""
    with connection(store) as con:
        last = observed_until(con)
    if last is None:
        raise ValueError("the hub has no transactions, payments or subscriptions: nothing to train on")
    return last + timedelta(days=1)


def horizon(name: str, s: Settings) -> int:
    """Days of data a label needs after its as-of date."""
    m = s.models
    return {
        "churn": m.churn_horizon_days + m.inactivity_days,
        "default": m.default_horizon_days,
        "propensity": m.adoption_horizon_days,
    }[name]


def labelled_dates(name: str, s: Settings, until: date) -> list[date]:
    """The latest labelled date (the held-out window) and the training snapshots before it."""
    latest = until - timedelta(days=horizon(name, s))
    return [latest - timedelta(days=k * s.models.snapshot_step_days) for k in range(s.models.snapshots + 1)]


def _labels(store: OfflineStore, name: str, day: date, s: Settings, products: list[str]) -> pl.DataFrame:
    m = s.models
    if name == "churn":
        return churn_labels(store, day, m.churn_horizon_days, inactivity_days=m.inactivity_days, check=False)
    if name == "default":
        return default_labels(store, day, m.default_horizon_days, inactivity_days=m.inactivity_days, check=False)
    return adoption_labels(
        store, day, m.adoption_horizon_days, products=products, inactivity_days=m.inactivity_days, check=False
    )


def labelled_frame(
    store: OfflineStore, name: str, day: date, s: Settings, products: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features and label columns of the customers labelled at ``day`` (same rows, same order)."""
    labels = _labels(store, name, day, s, products).drop("as_of")
    feats = build_features(store, day, products=products)
    joined = feats.join(labels.drop([c for c in ("contract",) if c in labels.columns]), on="customer_id")
    targets = [c for c in labels.columns if c not in ("customer_id", "contract")]
    frame = joined.to_pandas()
    return frame.drop(columns=targets), frame[targets].astype("float64")


def _stack(
    store: OfflineStore, name: str, days: list[date], s: Settings, products: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    parts = [labelled_frame(store, name, d, s, products) for d in days]
    x = pd.concat([p[0] for p in parts], ignore_index=True)
    y = pd.concat([p[1] for p in parts], ignore_index=True)
    if len(x) > s.models.max_training_rows:
        keep = np.random.default_rng(0).choice(len(x), s.models.max_training_rows, replace=False)
        x, y = x.iloc[np.sort(keep)].reset_index(drop=True), y.iloc[np.sort(keep)].reset_index(drop=True)
    return x, y


# -- estimators ----------------------------------------------------------------------------------
def _estimator(name: str, s: Settings) -> Any:
    from cvm.models import ChurnModel, PropensityModel, Scorecard

    if name == "churn":
        return ChurnModel(n_estimators=s.models.n_estimators, learning_rate=0.1)
    if name == "default":
        return Scorecard(pdo=s.risk.pdo, odds=s.risk.odds, target_score=s.risk.target_score)
    return PropensityModel(n_estimators=s.models.n_estimators, learning_rate=0.1, min_child_samples=50)


def _usable_targets(y: pd.DataFrame, min_events: int) -> list[str]:
    out = []
    for c in y.columns:
        v = y[c].dropna()
        if min(v.sum(), len(v) - v.sum()) >= min_events:
            out.append(str(c))
    return out


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
    keys = ("n", "event_rate", "auc", "gini", "ks", "brier")
    if name != "propensity":
        p = model.predict_proba(x)[:, 1]
        report = classification_report(y[LABEL_COLUMN[name]].to_numpy(), p)
        return {k: report[k] for k in keys}
    per: dict[str, Any] = {}
    proba = model.predict_proba(x)
    for target in model.targets_:
        if target in y.columns:
            rows = y[target].notna().to_numpy()
            labels = y.loc[rows, target].to_numpy()
            if 0 < labels.sum() < labels.size:
                r = classification_report(labels, proba.loc[rows, target].to_numpy())
                per[target] = {k: r[k] for k in keys}
    aucs = [v["auc"] for v in per.values()]
    return {"auc": float(np.mean(aucs)) if aucs else float("nan"), "targets": per}


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
) -> ModelVersion:
    """Fit ``name`` on its training snapshots, measure it on the held-out window and register it.

    ``base`` is the whole base's features at ``until``: the population the model would score at
    training time, kept as the reference of the PSI checks (:mod:`cvm.scoring.monitor`).
    """
    holdout, *days = labelled_dates(name, s, until)
    x, y = _stack(store, name, days, s, products)
    model = _estimator(name, s)
    window = (days[-1].isoformat(), (days[0] + timedelta(days=horizon(name, s))).isoformat())
    if name == "propensity":
        targets = _usable_targets(y, model.min_events)
        if not targets:
            raise ValueError("no product has enough adoptions to train a propensity model")
        model.fit(x, y[targets], training_window=window)
    else:
        model.fit(x, y[LABEL_COLUMN[name]], training_window=window)
    hx, hy = labelled_frame(store, name, holdout, s, products)
    feats = _features_of(name, model)
    meta = {
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
        "metrics": evaluate(name, model, hx, hy),
        "baseline": {
            "features": profiles(base, feats),
            "scores": {k: profile(v) for k, v in predict_scores(name, model, base).items()},
        },
    }
    return registry.register(name, model, meta)


def train(store: OfflineStore, workspace: Path, s: Settings, until: date | None = None) -> TrainReport:
    """Train churn, default and propensity models on the data before ``until`` (default: all of it)."""
    end = until or data_end(store)
    with connection(store) as con:
        products = products_before(con, end)
    registry, report = ModelRegistry(workspace), TrainReport(end)
    base = build_features(store, end, products=products).to_pandas()
    for name in ("churn", "default", "propensity"):
        try:
            entry = train_one(store, registry, name, s, end, products, base)
        except ValueError as exc:
            report.notes.append(f"{name}: not trained ({exc})")
            continue
        report.models.append({**entry.summary(), "metrics": _short(entry.meta["metrics"])})
    return report


def _short(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "targets"}


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


# -- scoring -------------------------------------------------------------------------------------
def path_contributions(
    model: BoostedClassifier, data: pd.DataFrame, top_features: int = 12, chunk: int = 65_536
) -> tuple[np.ndarray[Any, Any], list[str], np.ndarray[Any, Any]]:
    """Path attributions (Saabas) of the log-odds to the ``top_features`` features of most gain.

    ``data`` is already transformed by the model's schema. Returns the (rows, features) matrix, the
    feature names and the log-odds themselves (the sum of the rows' leaf values, so the booster runs
    once); rows go in cache-sized chunks, one leaf lookup per tree.
    """
    booster = model.booster_
    leaves = np.asarray(booster.predict(data, pred_leaf=True, num_threads=model.n_jobs), dtype=np.int32)
    leaves = leaves.reshape(len(data), -1)
    gain = np.asarray(booster.feature_importance("gain", iteration=leaves.shape[1]), dtype=np.float64)
    keep = [int(j) for j in np.argsort(-gain, kind="stable")[:top_features] if gain[j] > 0]
    column = {j: i for i, j in enumerate(keep)}
    trees = booster.dump_model(num_iteration=leaves.shape[1])["tree_info"][: leaves.shape[1]]
    tables = [_leaf_table(t["tree_structure"], int(t["num_leaves"]), column) for t in trees]
    out = np.zeros((len(data), len(keep)), dtype=np.float32)
    raw = np.zeros(len(data), dtype=np.float64)
    for start in range(0, len(data), chunk):
        block, part, total = leaves[start : start + chunk], out[start : start + chunk], raw[start : start + chunk]
        for t, (table, values) in enumerate(tables):
            part += table[block[:, t]]
            total += values[block[:, t]]
    return out, [model.features_[j] for j in keep], raw


def top_codes(contrib: np.ndarray[Any, Any], names: list[str], top: int = TOP) -> list[str]:
    """The ``top`` features with the largest positive values per row, joined by ``;`` (vectorised)."""
    if contrib.shape[1] == 0:
        return [NO_REASON] * contrib.shape[0]
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
    picked = np.take_along_axis(contrib, order, axis=1)
    labels = np.asarray(names, dtype=object)
    cols = {f"n{i}": labels[order[:, i]].astype(str) for i in range(order.shape[1])}
    cols |= {f"p{i}": picked[:, i] > 0 for i in range(order.shape[1])}
    codes = [pl.when(pl.col(f"p{i}")).then(pl.col(f"n{i}")) for i in range(order.shape[1])]
    joined = pl.DataFrame(cols).select(pl.concat_str(codes, separator=";", ignore_nulls=True).alias("r"))["r"]
    return joined.replace("", NO_REASON).to_list()


def _leaf_table(
    root: dict[str, Any], n_leaves: int, column: dict[int, int]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Attribution of each leaf of one tree to the kept features (the change of node value per split),
    and the leaf values."""
    table = np.zeros((max(n_leaves, 1), len(column)), dtype=np.float32)
    values = np.zeros(max(n_leaves, 1), dtype=np.float64)
    if "split_feature" not in root:
        values[:] = float(root.get("leaf_value", 0.0))
        return table, values
    stack: list[tuple[dict[str, Any], np.ndarray[Any, Any]]] = [(root, np.zeros(len(column), np.float64))]
    while stack:
        node, acc = stack.pop()
        j = column.get(int(node["split_feature"]))
        for side in ("left_child", "right_child"):
            child = node[side]
            leaf = "leaf_index" in child
            step = acc.copy()
            if j is not None:
                step[j] += (child["leaf_value"] if leaf else child["internal_value"]) - node["internal_value"]
            if leaf:
                table[child["leaf_index"]] = step
                values[child["leaf_index"]] = child["leaf_value"]
            else:
                stack.append((child, step))
    return table, values


def _joined(codes: list[list[str]]) -> list[str]:
    """Reason codes joined by ``;`` (a row that no feature pushes up says so)."""
    return [";".join(c) if c else NO_REASON for c in codes]


def _rule(score: str, s: Settings) -> GradeRule:
    fixed = s.models.thresholds.get(score)
    if fixed is not None:
        return GradeRule("threshold", high_threshold=fixed[1], medium_threshold=fixed[0])
    return GradeRule("quantile", s.models.high_share, s.models.medium_share)


def _rows(ids: pd.Series, score: str, value: Any, grade: Any, version: str, reasons: Any) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ids.to_numpy(),
            "score": score,
            "value": pl.Series(np.asarray(value, dtype=np.float64)).fill_nan(None),
            "grade": pl.Series(list(grade), dtype=pl.Utf8),
            "model_version": version,
            "reasons": pl.Series(list(reasons), dtype=pl.Utf8),
        }
    )


def _boosted(
    model: BoostedClassifier, x: pd.DataFrame, cache: dict[str, pd.DataFrame], rows: Any = None
) -> tuple[Any, list[str]]:
    """Probabilities and reason codes of ``x`` (only ``rows``); models with one schema share its transform."""
    import json

    key = json.dumps(model.schema_.to_dict(), sort_keys=True)
    if key not in cache:
        cache[key] = model.schema_.transform(x)
    data = cache[key] if rows is None else cache[key][rows]
    contrib, names, raw = path_contributions(model, data)
    return model.proba_of_raw(raw), top_codes(contrib, names)


def _score_churn(entry: ModelVersion, x: pd.DataFrame, s: Settings, cache: dict[str, pd.DataFrame]) -> pl.DataFrame:
    p, codes = _boosted(entry.load(), x, cache)
    return _rows(x["customer_id"], "churn", p, _rule("churn", s).apply(p), entry.tag, codes)


def _score_default(entry: ModelVersion, x: pd.DataFrame, s: Settings) -> pl.DataFrame:
    card = entry.load()
    pts = card.points(x)
    points = pts.sum(axis=1).to_numpy(dtype=np.float64)
    p_bad = card.scaling.probability_of_score(points)
    best = card.table_[card.table_["count"] > 0].groupby("characteristic")["points"].max()
    lost = best.reindex(pts.columns).to_numpy() - pts.to_numpy()
    codes = _joined(reason_codes(np.where(lost > 1e-9, lost, 0.0), list(pts.columns), TOP))
    grade = _rule("default", s).apply(p_bad)
    return pl.concat(
        [
            _rows(x["customer_id"], "default", p_bad, grade, entry.tag, codes),
            _rows(x["customer_id"], "default_points", points, grade, entry.tag, codes),
        ]
    )


def _score_propensity(
    entry: ModelVersion, x: pd.DataFrame, s: Settings, cache: dict[str, pd.DataFrame]
) -> pl.DataFrame:
    model = entry.load()
    by_slug = {product_slug(p): p for p in entry.meta.get("products", [])}
    parts = []
    for target, booster in model.models_.items():
        slug = target.removeprefix("adopt_")
        product = by_slug.get(slug, slug)
        if target == "upsell":
            eligible = x["active_subscriptions"].fillna(0).to_numpy() > 0
            why = "no subscription"
        else:
            held = x[f"holds_{slug}"] if f"holds_{slug}" in x.columns else pd.Series(0, index=x.index)
            eligible = held.fillna(0).to_numpy() < 1
            why = f"holds {product}"
        value = np.full(len(x), np.nan)
        reasons = np.full(len(x), why, dtype=object)
        if eligible.any():
            p, codes = _boosted(booster, x, cache, eligible)
            value[eligible] = p
            reasons[eligible] = codes
        grade = _rule("propensity", s).apply(value)
        parts.append(_rows(x["customer_id"], f"propensity:{product}", value, grade, entry.tag, reasons))
    return pl.concat(parts)


def score_lifecycle(
    store: OfflineStore, workspace: Path, s: Settings, as_of: date
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Rows of the ``scores`` table from every champion, for every customer acquired before ``as_of``."""
    champions = ModelRegistry(workspace).champions()
    if not champions:
        return pl.DataFrame(), {"skipped": "no trained champion (run `cvm train`)"}
    products = sorted({p for c in champions.values() for p in c.meta.get("products", [])})
    x = build_features(store, as_of, products=products).to_pandas()
    cache: dict[str, pd.DataFrame] = {}
    parts = []
    if "churn" in champions:
        parts.append(_score_churn(champions["churn"], x, s, cache))
    if "default" in champions:
        parts.append(_score_default(champions["default"], x, s))
    if "propensity" in champions:
        parts.append(_score_propensity(champions["propensity"], x, s, cache))
    rows = pl.concat(parts).with_columns(pl.lit(as_of).alias("as_of")).select(SCORE_COLUMNS)
    info = {
        "customers": len(x),
        "rows": rows.height,
        "models": {n: c.tag for n, c in champions.items()},
        "grades": {
            str(key[0]): grade_counts(part["grade"].to_numpy())
            for key, part in rows.group_by("score", maintain_order=True)
        },
    }
    return rows, info


def write_lifecycle_scores(store: OfflineStore, workspace: Path, s: Settings, as_of: date) -> dict[str, Any]:
    """Score with the champions and upsert the rows (re-scoring a date replaces its rows)."""
    rows, info = score_lifecycle(store, workspace, s, as_of)
    if rows.height:
        with store.transaction() as tx:
            tx.upsert("scores", rows)
    return info
