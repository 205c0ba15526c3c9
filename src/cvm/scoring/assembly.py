"""Score assembly of the life-cycle models: score rows, grades and reason codes (part of ``cvm score``).

The champions score every customer acquired before ``as_of``: ``churn`` (probability),
``default`` (probability of bad) and ``default_points`` (scorecard points), and
``propensity:<product>`` (probability of adopting the product; empty for holders) plus
``propensity:upsell``. Grades low/medium/high come from :class:`cvm.scoring.grades.GradeRule`
(the one grading helper; ``default_points`` carries the grade of ``default``), with the probability floors
of ``models.grade_floors``; a score equal for everyone is not graded and its reasons say so. Reasons are the
top-3 reason codes joined by ``;``: the boosted models' path attributions
(:mod:`cvm.models.attributions`), the scorecard's points lost against each characteristic's best bin.

Imports from a sibling stage: :mod:`cvm.features` (the features and product names): customers are
scored on point-in-time features built by the same definitions the models were trained on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cvm.config.settings import Settings
from cvm.features.sql import product_slug
from cvm.models.attributions import path_contributions
from cvm.models.churn import BoostedClassifier, reason_codes
from cvm.scoring.grades import GradeRule
from cvm.scoring.registry import MODEL_NAMES, ModelRegistry, ModelVersion

TOP = 3
NO_REASON = "no adverse factor"


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


def _joined(codes: list[list[str]]) -> list[str]:
    """Reason codes joined by ``;`` (a row that no feature pushes up says so)."""
    return [";".join(c) if c else NO_REASON for c in codes]


def grade_rule(score: str, s: Settings) -> GradeRule:
    """The score's fixed thresholds (``models.thresholds``) if set, else the quantile shares; with the
    score's absolute floors (``models.grade_floors``)."""
    low, high = s.models.grade_floors.get(score, (None, None))
    fixed = s.models.thresholds.get(score)
    if fixed is not None:
        return GradeRule(
            "threshold", high_threshold=fixed[1], medium_threshold=fixed[0], medium_floor=low, high_floor=high
        )
    return GradeRule("quantile", s.models.high_share, s.models.medium_share, medium_floor=low, high_floor=high)


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
    data = _transformed(model, x, cache)
    data = data if rows is None else data[rows]
    contrib, names, raw = path_contributions(model, data)
    return model.proba_of_raw(raw), top_codes(contrib, names)


def _transformed(model: BoostedClassifier, x: pd.DataFrame, cache: dict[str, pd.DataFrame]) -> pd.DataFrame:
    key = json.dumps(model.schema_.to_dict(), sort_keys=True)
    if key not in cache:
        cache[key] = model.schema_.transform(x)
    return cache[key]


def default_values(card: Any, x: pd.DataFrame) -> tuple[Any, Any, list[str]]:
    """Probability of bad, scorecard points and reason codes of each row of ``x`` (row by row, no grading)."""
    pts = card.points(x)
    points = pts.sum(axis=1).to_numpy(dtype=np.float64)
    p_bad = card.scaling.probability_of_score(points)
    best = card.table_[card.table_["count"] > 0].groupby("characteristic")["points"].max()
    lost = best.reindex(pts.columns).to_numpy() - pts.to_numpy()
    return p_bad, points, _joined(reason_codes(np.where(lost > 1e-9, lost, 0.0), list(pts.columns), TOP))


def propensity_values(
    model: Any, products: list[str], x: pd.DataFrame, cache: dict[str, pd.DataFrame]
) -> list[tuple[str, Any, list[Any]]]:
    """``(score name, probabilities, reasons)`` per target of a propensity model, row by row (no grading)."""
    by_slug = {product_slug(p): p for p in products}
    out = []
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
        out.append((f"propensity:{product}", value, list(reasons)))
    return out


def champions_of(workspace: Path) -> dict[str, ModelVersion]:
    """The life-cycle champions of the workspace's registry."""
    return {n: c for n, c in ModelRegistry(workspace).champions().items() if n in MODEL_NAMES}
