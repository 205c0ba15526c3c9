"""The cut-off (strategy) table of the default scorecard: one row per score band.

For a cut-off at the lower edge of each band (applicants at or above it are accepted):

- ``applicants``: customers in the band; ``band_bad_rate``: their mean probability of bad;
- ``accepted`` and ``approval_rate``: customers at or above the cut-off, and their share;
- ``bad_rate``: expected bad rate of the accepted book (mean probability of bad);
- ``expected_loss`` = Σ p_bad · exposure · LGD over the accepted book;
- ``expected_value`` = Σ (1 − p_bad) · exposure · margin − expected loss.

The probability of bad of a score follows the points scaling (:mod:`cvm.models.credit`), so the bad rate
falls as the cut-off rises, as does the approval rate.

Examples
--------
>>> import numpy as np
>>> from cvm.config.settings import RiskSettings
>>> t = cutoff_table(np.array([560.0, 590.0, 610.0, 650.0]), np.array([0.2, 0.05, 0.02, 0.005]), RiskSettings())
>>> t["approval_rate"].tolist()
[1.0, 0.75, 0.5, 0.25, 0.25]
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cvm.config.settings import RiskSettings
from cvm.errors import BadValueError
from cvm.store import OfflineStore

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def scored_book(store: OfflineStore, as_of: date | None = None) -> tuple[date, pd.DataFrame]:
    """``customer_id, points, p_bad, grade, reasons`` of the latest (or given) scoring with default points."""
    scores = store.scan("scores").filter(pl.col("score").is_in(["default", "default_points"]))
    if as_of is None:
        latest = scores.filter(pl.col("score") == "default_points").select(pl.col("as_of").max()).collect().item()
        if latest is None:
            raise BadValueError("no default scores yet: run `cvm train`, then `cvm score`")
        as_of = latest
    rows = scores.filter(pl.col("as_of") == as_of).collect()
    points = rows.filter(pl.col("score") == "default_points").select(
        "customer_id", pl.col("value").alias("points"), "grade", "reasons", "model_version"
    )
    p_bad = rows.filter(pl.col("score") == "default").select("customer_id", pl.col("value").alias("p_bad"))
    book = points.join(p_bad, on="customer_id").sort("customer_id").to_pandas()
    if book.empty:
        raise BadValueError(f"no default scores as of {as_of}")
    return as_of, book


def band_edges(points: FloatArray, width: float) -> FloatArray:
    """Band lower edges, multiples of ``width``, from the lowest score to the highest."""
    lo, hi = np.floor(points.min() / width) * width, np.floor(points.max() / width) * width
    return np.arange(lo, hi + width / 2, width)


def book_figures(points: FloatArray, p_bad: FloatArray, cutoff: float | None, risk: RiskSettings) -> dict[str, Any]:
    """Accepted customers, approval rate, bad rate, expected loss and value at one cut-off (None: all)."""
    take = np.ones(points.size, dtype=bool) if cutoff is None else points >= cutoff
    p = p_bad[take]
    loss = float(p.sum() * risk.exposure * risk.lgd)
    return {
        "cutoff": cutoff,
        "accepted": int(take.sum()),
        "approval_rate": float(take.mean()) if points.size else 0.0,
        "bad_rate": float(p.mean()) if p.size else 0.0,
        "expected_loss": loss,
        "expected_value": float((1.0 - p).sum() * risk.exposure * risk.margin) - loss,
    }


def cutoff_table(points: FloatArray, p_bad: FloatArray, risk: RiskSettings) -> pd.DataFrame:
    """The strategy table, one row per band, lowest cut-off first (see the module docstring)."""
    points, p_bad = np.asarray(points, dtype=np.float64), np.asarray(p_bad, dtype=np.float64)
    if points.size == 0:
        raise BadValueError("no scored customers")
    rows = []
    for edge in band_edges(points, risk.band_width):
        band = (points >= edge) & (points < edge + risk.band_width)
        rows.append(
            {
                "band": f"{edge:.0f}-{edge + risk.band_width:.0f}",
                "applicants": int(band.sum()),
                "band_bad_rate": float(p_bad[band].mean()) if band.any() else None,
                **book_figures(points, p_bad, float(edge), risk),
            }
        )
    return pd.DataFrame(rows)


def band_of(points: float, width: float) -> str:
    """The band label of a score, e.g. ``580-600``."""
    edge = np.floor(points / width) * width
    return f"{edge:.0f}-{edge + width:.0f}"
