"""Dashboard figures: the reporting package's builders restyled, plus the one it lacks (NPS by segment)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped, unused-ignore]
import polars as pl

from cvm.i18n import _
from cvm.i18n.formats import separators
from cvm.i18n.labels import label
from cvm.reporting import figures as rf
from cvm.web.charts import dashboard

Row = dict[str, Any]


def bridge(growth: pl.DataFrame, period: str) -> go.Figure:
    """The waterfall of one period's revenue bridge, with each step's amount on its bar."""
    fig = rf.waterfall_figure(growth, period)
    fig.update_traces(texttemplate="%{y:,.0f}", textposition="outside", cliponaxis=False)
    return dashboard(fig, height=380, showlegend=False, yaxis={"title": _("Revenue"), "rangemode": "tozero"})


def movements(growth: pl.DataFrame) -> go.Figure:
    return dashboard(rf.movements_figure(growth), hovermode="x unified")


def rates(growth: pl.DataFrame) -> go.Figure:
    fig = rf.rates_figure(growth)
    return dashboard(fig, hovermode="x unified", yaxis={"title": "%", "ticksuffix": "%"})


def hunting_farming(split: pl.DataFrame) -> go.Figure:
    return dashboard(rf.hunting_farming_figure(split), hovermode="x unified")


def cohorts(table: pl.DataFrame) -> go.Figure:
    height = max(320, min(760, 18 * table["cohort"].n_unique() + 120))
    fig = rf.cohort_heatmap(table)
    fig.update_traces(zmin=0, zmax=100, colorbar={"ticksuffix": "%", "thickness": 12, "title": None})
    return dashboard(fig, height=height, yaxis={"autorange": "reversed"})


def migration(matrix: pl.DataFrame, vocabulary: str = "stage") -> go.Figure:
    fig = rf.migration_heatmap(matrix, vocabulary)
    return dashboard(fig, xaxis={"title": _("To"), "side": "top"}, yaxis={"title": _("From"), "autorange": "reversed"})


def voc_trend(table: pl.DataFrame) -> go.Figure:
    return dashboard(rf.voc_figure(table), hovermode="x unified")


def churn_reasons(reasons: pl.DataFrame) -> go.Figure:
    fig = rf.churn_reasons_figure(reasons)
    return dashboard(fig, showlegend=False, margin={"l": 130, "r": 24, "t": 24, "b": 44})


def churn_by_period(by_period: pl.DataFrame) -> go.Figure:
    return dashboard(rf.churn_period_figure(by_period), hovermode="x unified")


def silent_churn(by_period: pl.DataFrame) -> go.Figure:
    fig = rf.silent_churn_figure(by_period)
    share_axis = {"range": [0, 100], "tickvals": [0, 25, 50, 75, 100], "ticksuffix": "%"}
    return dashboard(fig, hovermode="x unified", yaxis2=share_axis)


def histogram(table: pl.DataFrame, score: str) -> go.Figure:
    return dashboard(rf.histogram_figure(table), showlegend=False, xaxis={"title": label(score, "score")})


def nps_by_segment(rows: Sequence[Row], vocabulary: str | None = None) -> go.Figure:
    """NPS (bars) and % would recommend (diamonds) per segment, from the VOC report's ``overall`` rows.

    Segments measured on too few answers (``small_sample``) are faded and hatched, their label giving n.
    """
    x = [label(r["segment"], vocabulary) if vocabulary else r["segment"] for r in rows]
    nps = [r["nps"] for r in rows]
    colors = ["#e76f51" if v is not None and v < 0 else "#264653" for v in nps]
    # a segment with too few answers (the report's small_sample) is drawn faded and says how few
    thin = [bool(r.get("small_sample")) for r in rows]
    labels = [
        "" if v is None else f"{v:+.0f}" + (f" (n={r['responses']})" if t else "")
        for v, r, t in zip(nps, rows, thin, strict=True)
    ]
    bar = go.Bar(x=x, y=nps, name=_("NPS"), marker_color=colors, marker_opacity=[0.4 if t else 1.0 for t in thin],
                 marker_pattern_shape=["/" if t else "" for t in thin], text=labels)  # fmt: skip
    fig = go.Figure(bar, layout={"template": "plotly_white", "separators": separators()})
    fig.add_scatter(
        x=x,
        y=[r["pct_would_recommend"] for r in rows],
        name=_("% would recommend"),
        mode="markers",
        marker={"color": "#e9c46a", "size": 11, "symbol": "diamond"},
    )
    return dashboard(fig, yaxis={"title": _("NPS / %")})
