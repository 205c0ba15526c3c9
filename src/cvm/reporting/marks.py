"""Marks that keep a chart honest: partial and right-censored periods shaded, round axis ticks.

Used by :mod:`cvm.reporting.figures` (HTML report and dashboard alike), so both mark the same
periods: the ones the report tables flag ``partial`` (by :func:`cvm.reporting.periods.final_day`) or
``censored`` (churns not all known yet).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped, unused-ignore]
import polars as pl

from cvm.i18n import N_, gettext
from cvm.i18n.formats import num

PARTIAL_FILL = "rgba(120, 130, 140, 0.16)"
PARTIAL_TEXT = N_("partial")
CENSORED_TEXT = N_("right-censored")
PARTIAL_CELL = "*"
PARTIAL_CELL_TEXT = N_("* partial: the period is still running, so the cell reads low")


def flagged(frame: pl.DataFrame, column: str) -> list[int]:
    """Positions of the rows where the boolean ``column`` is true (none when it is absent)."""
    if column not in frame.columns:
        return []
    return [i for i, v in enumerate(frame[column].to_list()) if v]


def shade(fig: go.Figure, positions: Sequence[int], text: str) -> go.Figure:
    """Shade the category positions (one band over consecutive ones) and label the band at its top.

    The band is drawn below the traces; its label says what it means ("partial", "right-censored").
    The x axis is made a category axis, so that positions are the periods' (labels such as "2025-11"
    would otherwise make Plotly draw a date axis).
    """
    if not positions:
        return fig
    fig.update_xaxes(type="category")
    lo, hi = min(positions) - 0.5, max(positions) + 0.5
    fig.add_vrect(x0=lo, x1=hi, fillcolor=PARTIAL_FILL, line_width=0, layer="below")
    fig.add_annotation(
        x=hi, y=1, xref="x", yref="paper", xanchor="right", yanchor="top", text=text, showarrow=False,
        font={"size": 11, "color": "#4a5561"}, textangle=-90,
    )  # fmt: skip
    return fig


def shade_partial(fig: go.Figure, frame: pl.DataFrame) -> go.Figure:
    """Shade the periods of ``frame`` flagged ``partial``."""
    return shade(fig, flagged(frame, "partial"), gettext(PARTIAL_TEXT))


def shade_censored(fig: go.Figure, frame: pl.DataFrame) -> go.Figure:
    """Shade the periods of ``frame`` flagged ``censored``."""
    return shade(fig, flagged(frame, "censored"), gettext(CENSORED_TEXT))


def shade_rows(fig: go.Figure, positions: Sequence[int], text: str) -> go.Figure:
    """Shade rows of a heatmap (category positions on its y axis) and label the band at its right end."""
    if not positions:
        return fig
    fig.update_yaxes(type="category")
    lo, hi = min(positions) - 0.5, max(positions) + 0.5
    fig.add_hrect(y0=lo, y1=hi, fillcolor=PARTIAL_FILL, line={"color": "#4a5561", "width": 1, "dash": "dash"})
    fig.add_annotation(
        x=1, y=(lo + hi) / 2, xref="paper", yref="y", xanchor="left", text=text, showarrow=False,
        font={"size": 11, "color": "#4a5561"},
    )  # fmt: skip
    return fig


def nice_step(span: float, count: int = 5) -> float:
    """A round step (1, 2, 2.5 or 5 × 10^k) giving about ``count`` intervals over ``span``."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover


def round_axis(values: Sequence[float | int | None], count: int = 5, zero: bool = True) -> dict[str, Any]:
    """Axis settings with round ticks covering ``values`` (and zero when ``zero``): range and tick values.

    Plotly's own ticks are round on a primary axis, but a secondary axis aligned to it is not
    (−7, 6.7, 20.4 …); explicit round ticks fix that.
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return {}
    lo, hi = min(finite), max(finite)
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        hi = lo + 1.0
    step = nice_step(hi - lo, count)
    start, stop = math.floor(lo / step) * step, math.ceil(hi / step) * step
    ticks = [round(start + i * step, 10) for i in range(round((stop - start) / step) + 1)]
    return {"range": [start, stop], "tickmode": "array", "tickvals": ticks}


def tail_label(lower: float, unit: str = "") -> str:
    """The label of a catch-all last bar: "≥ 5,000"."""
    return f"≥ {num(lower)}{unit}"
