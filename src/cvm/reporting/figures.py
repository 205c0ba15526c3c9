"""Plotly figures built from the report frames (the same frames as the JSON reports).

Every builder takes a frame returned by a function of :mod:`cvm.reporting` and returns a
``plotly.graph_objects.Figure``; nothing here computes a figure of its own.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped, unused-ignore]
import polars as pl

from cvm.i18n import _, gettext
from cvm.i18n.formats import separators
from cvm.i18n.labels import label
from cvm.reporting.cohorts import cohort_matrix, partial_cohorts
from cvm.reporting.marks import (
    PARTIAL_CELL,
    PARTIAL_CELL_TEXT,
    PARTIAL_TEXT,
    round_axis,
    shade_censored,
    shade_partial,
    shade_rows,
    tail_label,
)
from cvm.reporting.migration import migration_pivot

COLORS = {
    "new": "#2a9d8f",
    "expansion": "#8ab17d",
    "reactivation": "#e9c46a",
    "contraction": "#f4a261",
    "churned": "#e76f51",
    "total": "#264653",
    "voluntary": "#e76f51",
    "involuntary": "#6d597a",
    "unknown": "#adb5bd",
}
_BASE: dict[str, Any] = {"template": "plotly_white", "margin": {"l": 60, "r": 30, "t": 60, "b": 50}}


def _layout() -> dict[str, Any]:
    """The common layout, with the current language's decimal and thousands separators on every number."""
    return {**_BASE, "separators": separators()}


def _floats(frame: pl.DataFrame, column: str) -> list[float | None]:
    return frame[column].cast(pl.Float64).to_list()


def _steps(row: dict[str, Any]) -> list[float]:
    return [float(row["start"]), float(row["new"]), float(row["expansion"]), float(row["reactivation"]),
            -float(row["contraction"]), -float(row["churned"]), float(row["end"])]  # fmt: skip


def waterfall_figure(growth: pl.DataFrame, period: str | None = None) -> go.Figure:
    """Growth bridge of one period as a waterfall, with a menu to pick any other period.

    ``growth`` is a :func:`cvm.reporting.growth_accounting` frame; ``period`` (a label) defaults to the
    latest complete period (rows flagged ``partial`` are never the default, and say so in their title).
    """
    labels = [
        label(m, "movement") for m in ("start", "new", "expansion", "reactivation", "contraction", "churned", "end")
    ]
    rows = growth.to_dicts()
    if not rows:
        return go.Figure(layout={**_layout(), "title": _("Revenue bridge (no data)")})
    done = [i for i, r in enumerate(rows) if not r.get("partial")]
    default = done[-1] if done else len(rows) - 1
    shown = next((i for i, r in enumerate(rows) if r["period"] == period), default)
    measure = ["absolute", *["relative"] * 5, "total"]
    fig = go.Figure(
        go.Waterfall(
            x=labels,
            y=_steps(rows[shown]),
            measure=measure,
            connector={"line": {"color": "#999"}},
            increasing={"marker": {"color": COLORS["new"]}},
            decreasing={"marker": {"color": COLORS["churned"]}},
            totals={"marker": {"color": COLORS["total"]}},
        )
    )
    buttons = [
        {
            "label": r["period"],
            "method": "update",
            "args": [{"y": [_steps(r)]}, {"title": _bridge_title(r)}],
        }
        for r in rows
    ]
    menu = {"buttons": buttons, "active": shown, "x": 1.0, "xanchor": "right", "y": 1.15, "yanchor": "top"}
    return fig.update_layout(**_layout(), title=_bridge_title(rows[shown]), updatemenus=[menu])


def _bridge_title(row: dict[str, Any]) -> str:
    if row.get("partial"):
        return _("Revenue bridge %(period)s (partial: the period is still running)") % {"period": row["period"]}
    return _("Revenue bridge %(period)s") % {"period": row["period"]}


def movements_figure(growth: pl.DataFrame) -> go.Figure:
    """Revenue movements per period: gains above zero, losses below, and the net change."""
    x = growth["period"].to_list()
    fig = go.Figure()
    for name in ("new", "expansion", "reactivation"):
        fig.add_bar(x=x, y=_floats(growth, name), name=label(name, "movement"), marker_color=COLORS[name])
    for name in ("contraction", "churned"):
        losses = [-v if v else 0.0 for v in _floats(growth, name)]
        fig.add_bar(x=x, y=losses, name=label(name, "movement"), marker_color=COLORS[name])
    net = (growth["end"] - growth["start"]).cast(pl.Float64).to_list()
    fig.add_scatter(x=x, y=net, name=_("net change"), mode="lines+markers", line={"color": COLORS["total"]})
    shade_partial(fig, growth)
    return fig.update_layout(**_layout(), barmode="relative", title=_("Revenue movements per period"))


def trend_figure(growth: pl.DataFrame) -> go.Figure:
    """Revenue at the end of each period and active customers (right axis)."""
    x = growth["period"].to_list()
    fig = go.Figure()
    fig.add_scatter(x=x, y=_floats(growth, "end"), name=_("Revenue"), mode="lines+markers")
    active = growth["customers_active"].to_list()
    fig.add_scatter(x=x, y=active, name=_("Active customers"), yaxis="y2", mode="lines")
    shade_partial(fig, growth)
    y2 = {"title": _("Customers"), "overlaying": "y", "side": "right", "showgrid": False, **round_axis(active)}
    title = _("Revenue and active customers")
    return fig.update_layout(**_layout(), title=title, yaxis={"title": _("Revenue")}, yaxis2=y2)


def rates_figure(growth: pl.DataFrame) -> go.Figure:
    """GRR, NRR and customer churn rate (%), and the quick ratio (right axis), from :func:`add_rates`."""
    x = growth["period"].to_list()
    fig = go.Figure()
    for name, text in (("grr", _("GRR")), ("nrr", _("NRR")), ("customer_churn_rate", _("Customer churn"))):
        fig.add_scatter(x=x, y=[None if v is None else 100 * v for v in growth[name].to_list()], name=text)
    quick = growth["quick_ratio"].to_list()
    fig.add_scatter(x=x, y=quick, name=_("Quick ratio"), yaxis="y2", line={"dash": "dot"})
    shade_partial(fig, growth)
    y2 = {"title": _("Quick ratio"), "overlaying": "y", "side": "right", "showgrid": False, **round_axis(quick)}
    return fig.update_layout(**_layout(), title=_("Retention rates per period"), yaxis={"title": "%"}, yaxis2=y2)


def hunting_farming_figure(split: pl.DataFrame) -> go.Figure:
    """Revenue from new customers (hunting) and existing customers (farming) per period."""
    x = split["period"].to_list()
    fig = go.Figure()
    fig.add_bar(x=x, y=_floats(split, "farming"), name=_("farming"), marker_color=COLORS["total"])
    fig.add_bar(x=x, y=_floats(split, "hunting"), name=_("hunting"), marker_color=COLORS["new"])
    shade_partial(fig, split)
    return fig.update_layout(**_layout(), barmode="stack", title=_("Hunting vs farming revenue"))


def voc_figure(table: pl.DataFrame) -> go.Figure:
    """NPS per period (and segment) with % would / did recommend, from :func:`cvm.reporting.voc`."""
    fig = go.Figure()
    groups = table.partition_by("segment", as_dict=True) if "segment" in table.columns else {("all",): table}
    for key, part in groups.items():
        name = _("NPS") if key[0] == "all" else f"{_('NPS')} {key[0]}"
        fig.add_scatter(x=part["period"].to_list(), y=part["nps"].to_list(), name=name, mode="lines+markers")
    if "segment" not in table.columns:
        for col, text in (("pct_would_recommend", _("% would recommend")), ("pct_did_recommend", _("% did recommend"))):
            fig.add_scatter(x=table["period"].to_list(), y=table[col].to_list(), name=text, line={"dash": "dot"})
        shade_partial(fig, table)
    return fig.update_layout(**_layout(), title=label("voc", "report"), yaxis={"title": _("points / %")})


def churn_reasons_figure(reasons: pl.DataFrame) -> go.Figure:
    """Top churn reasons as horizontal bars coloured by voluntary / involuntary."""
    rows = reasons.sort("customers").to_dicts()
    fig = go.Figure(
        go.Bar(
            x=[r["customers"] for r in rows],
            y=[label(r["reason"], "churn_reason") for r in rows],
            orientation="h",
            marker_color=[COLORS.get(r["reason_type"], COLORS["unknown"]) for r in rows],
            text=[label(r["reason_type"], "churn_reason") for r in rows],
        )
    )
    return fig.update_layout(**_layout(), title=_("Top churn reasons (customers)"))


def churn_period_figure(by_period: pl.DataFrame) -> go.Figure:
    """Churned customers per period, stacked by reason type (from :func:`churn_by_period`)."""
    fig = go.Figure()
    for name in ("voluntary", "involuntary", "unknown"):
        fig.add_bar(
            x=by_period["period"].to_list(),
            y=by_period[name].to_list(),
            name=label(name, "churn_reason"),
            marker_color=COLORS[name],
        )
    shade_censored(fig, by_period)
    return fig.update_layout(**_layout(), barmode="stack", title=_("Churned customers by reason type"))


def silent_churn_figure(by_period: pl.DataFrame) -> go.Figure:
    """Churned and silently churned customers per period, with the silent share (right axis)."""
    x = by_period["period"].to_list()
    fig = go.Figure()
    fig.add_bar(
        x=x, y=by_period["churned"].to_list(), name=label("churned", "movement"), marker_color=COLORS["unknown"]
    )
    fig.add_bar(x=x, y=by_period["silent"].to_list(), name=_("silent"), marker_color=COLORS["churned"])
    share = [None if v is None else 100 * v for v in by_period["share_customers"].to_list()]
    fig.add_scatter(x=x, y=share, name=_("% silent"), yaxis="y2", mode="lines+markers")
    shade_censored(fig, by_period)
    return fig.update_layout(
        **_layout(),
        barmode="overlay",
        title=label("silent-churn", "report"),
        yaxis2={"title": _("% silent"), "overlaying": "y", "side": "right", "showgrid": False},
    )


def cohort_heatmap(cohorts: pl.DataFrame, value: str = "revenue_retention") -> go.Figure:
    """Cohort retention heatmap (rows: cohorts, columns: periods since the first).

    Cells of a partial period (``partial`` of :func:`cvm.reporting.cohorts.mark_partial_cells`) carry a
    star, explained in the axis title, and a cohort whose first period is partial is shaded and labelled.
    """
    wide = cohort_matrix(cohorts, value)
    ks = [c for c in wide.columns if c != "cohort"]
    z = [[None if v is None else 100 * v for v in row] for row in wide.select(ks).rows()]
    flags = cohort_matrix(cohorts, "partial").select(ks).rows() if "partial" in cohorts.columns else None
    text = [["" if v is None else f"{v:.0f}" + (PARTIAL_CELL if flags and flags[i][j] else "")
             for j, v in enumerate(row)] for i, row in enumerate(z)]  # fmt: skip
    cohorts_shown = wide["cohort"].to_list()
    heat = go.Heatmap(
        z=z, x=ks, y=cohorts_shown, colorscale="Blues", colorbar={"title": "%"},
        text=text, texttemplate="%{text}", textfont={"size": 10}, hovertemplate="%{y}, +%{x}: %{z:.1f}%<extra></extra>",
    )  # fmt: skip
    fig = go.Figure(heat)
    title = _("Cohorts: %(what)s") % {"what": label(value, "table")}
    axis = _("periods since the first")
    if any(any(bool(f) for f in row) for row in flags or []):
        axis += " · " + gettext(PARTIAL_CELL_TEXT)
    fig.update_layout(
        **_layout(), title=title, xaxis={"title": axis}, yaxis={"autorange": "reversed", "type": "category"}
    )
    forming = set(partial_cohorts(cohorts))
    return shade_rows(fig, [i for i, c in enumerate(cohorts_shown) if c in forming], gettext(PARTIAL_TEXT))


def migration_heatmap(matrix: pl.DataFrame, vocabulary: str = "stage") -> go.Figure:
    """Migration matrix as a heatmap of customers (rows: from, columns: to; states named in ``vocabulary``)."""
    wide = migration_pivot(matrix)
    to = [c for c in wide.columns if c != "from_segment"]
    x = [label(c, vocabulary) for c in to]
    y = [label(c, vocabulary) for c in wide["from_segment"].to_list()]
    fig = go.Figure(go.Heatmap(z=wide.select(to).rows(), x=x, y=y, colorscale="Purples", texttemplate="%{z}"))
    axes = {"xaxis": {"title": _("To")}, "yaxis": {"title": _("From")}}
    return fig.update_layout(**_layout(), title=label("migration", "report"), **axes)


def histogram_figure(histogram: pl.DataFrame, title: str | None = None) -> go.Figure:
    """Bars of a :func:`cvm.reporting.score_histogram` frame; a catch-all last bin is labelled "≥ its edge"."""
    centres = ((histogram["lower"] + histogram["upper"]) / 2).to_list()
    widths = (histogram["upper"] - histogram["lower"]).to_list()
    tails = histogram["tail"].to_list() if "tail" in histogram.columns else [False] * histogram.height
    lowers = histogram["lower"].to_list()
    colors = [COLORS["churned"] if t else COLORS["total"] for t in tails]
    text = [tail_label(lo) if t else "" for lo, t in zip(lowers, tails, strict=True)]
    bars = go.Bar(x=centres, y=histogram["customers"].to_list(), width=widths, marker_color=colors, text=text,
                  textposition="outside", cliponaxis=False)  # fmt: skip
    fig = go.Figure(bars)
    axes = {"xaxis": {"title": _("Value")}, "yaxis": {"title": _("Customers")}}
    return fig.update_layout(**_layout(), title=title or label("scores", "report"), **axes)
