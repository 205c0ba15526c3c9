"""Plotly figures as JSON specs embedded in the page, drawn by the locally served plotly.js.

The figures come from :mod:`cvm.reporting.figures` (the same builders as the HTML report); here they
only get the dashboard's look: the page gives each chart its caption, so the figure's own title and
period menu go.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped, unused-ignore]

FONT = 'system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif'


def dashboard(fig: go.Figure, height: int = 340, **layout: Any) -> go.Figure:
    """Restyle a report figure for a dashboard card: no title or menu, tight margins, legend on top.

    The template stays the builders' ``plotly_white``: setting a template again costs ~80 ms a figure.
    """
    base: dict[str, Any] = {
        "title": None,
        "height": height,
        "margin": {"l": 56, "r": 56, "t": 36, "b": 44},
        "font": {"family": FONT, "size": 12, "color": "#1d2733"},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        "hoverlabel": {"font": {"family": FONT}},
    }
    fig.layout.updatemenus = ()  # the page's own period selector replaces the figure's menu
    fig.update_layout(**(base | layout))
    return fig


def spec(fig: go.Figure) -> str:
    """The figure as JSON that is safe inside ``<script type="application/json">``."""
    text: str = fig.to_json(validate=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
