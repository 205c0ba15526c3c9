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
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import polars as pl

from cvm.config.settings import Settings
from cvm.features.sql import product_slug
from cvm.models.attributions import path_contributions
from cvm.models.churn import BoostedClassifier, reason_codes
from cvm.scoring.grades import GradeRule
from cvm.scoring.guards import grade_with_reason
from cvm.scoring.registry import MODEL_NAMES, ModelRegistry, ModelVersion
from cvm.scoring.rows import SCORE_COLUMNS

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


class Grader(Protocol):
    """Grades of one score's ``values`` (``kind``: churn, default or propensity; ``name``: the score),
    with the reasons and why the values are ungraded (None when graded)."""

    def __call__(self, kind: str, name: str, values: Any, reasons: list[Any]) -> tuple[Any, list[Any], str | None]:
        """Grade ``values``."""
        ...


def local_grader(s: Settings) -> Grader:
    """Grade the values given, against each other (one chunk holding the whole base)."""

    def grade(kind: str, name: str, values: Any, reasons: list[Any]) -> tuple[Any, list[Any], str | None]:
        return grade_with_reason(grade_rule(kind, s), values, reasons, name)

    return grade


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


def score_churn(
    entry: ModelVersion, x: pd.DataFrame, cache: dict[str, pd.DataFrame], notes: list[str], grader: Grader
) -> pl.DataFrame:
    """``churn`` rows: probability, grade and path-attribution reasons."""
    p, codes = _boosted(entry.load(), x, cache)
    grade, codes, why = grader("churn", "churn", p, codes)
    notes += [why] if why else []
    return _rows(x["customer_id"], "churn", p, grade, entry.tag, codes)


def default_values(card: Any, x: pd.DataFrame) -> tuple[Any, Any, list[str]]:
    """Probability of bad, scorecard points and reason codes of each row of ``x`` (row by row, no grading)."""
    pts = card.points(x)
    points = pts.sum(axis=1).to_numpy(dtype=np.float64)
    p_bad = card.scaling.probability_of_score(points)
    best = card.table_[card.table_["count"] > 0].groupby("characteristic")["points"].max()
    lost = best.reindex(pts.columns).to_numpy() - pts.to_numpy()
    return p_bad, points, _joined(reason_codes(np.where(lost > 1e-9, lost, 0.0), list(pts.columns), TOP))


def score_default(entry: ModelVersion, x: pd.DataFrame, notes: list[str], grader: Grader) -> pl.DataFrame:
    """``default`` (probability of bad) and ``default_points`` rows, sharing one grade and the reasons."""
    p_bad, points, codes = default_values(entry.load(), x)
    grade, codes, why = grader("default", "default", p_bad, codes)
    notes += [why] if why else []
    return pl.concat(
        [
            _rows(x["customer_id"], "default", p_bad, grade, entry.tag, codes),
            _rows(x["customer_id"], "default_points", points, grade, entry.tag, codes),
        ]
    )


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


def score_propensity(
    entry: ModelVersion, x: pd.DataFrame, cache: dict[str, pd.DataFrame], notes: list[str], grader: Grader
) -> pl.DataFrame:
    """``propensity:<product>`` rows per target; holders (or non-subscribers for upsell) get none."""
    parts = []
    for name, value, reasons in propensity_values(entry.load(), entry.meta.get("products", []), x, cache):
        grade, kept, ungraded = grader("propensity", name, value, reasons)
        notes += [ungraded] if ungraded else []
        parts.append(_rows(x["customer_id"], name, value, grade, entry.tag, kept))
    return pl.concat(parts)


def score_chunk(
    champions: dict[str, ModelVersion], x: pd.DataFrame, as_of: date, notes: list[str], grader: Grader
) -> pl.DataFrame:
    """Rows of the ``scores`` table of every champion for the customers of ``x``."""
    cache: dict[str, pd.DataFrame] = {}
    parts: list[pl.DataFrame] = []
    if "churn" in champions:
        parts.append(score_churn(champions["churn"], x, cache, notes, grader))
    if "default" in champions:
        parts.append(score_default(champions["default"], x, notes, grader))
    if "propensity" in champions:
        parts.append(score_propensity(champions["propensity"], x, cache, notes, grader))
    return pl.concat(parts).with_columns(pl.lit(as_of).alias("as_of")).select(SCORE_COLUMNS)


def champions_of(workspace: Path) -> dict[str, ModelVersion]:
    """The life-cycle champions of the workspace's registry."""
    return {n: c for n, c in ModelRegistry(workspace).champions().items() if n in MODEL_NAMES}
