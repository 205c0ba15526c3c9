"""Plotly figures are built from the report frames, value for value."""

from __future__ import annotations

from datetime import date

import plotly.graph_objects as go
import polars as pl
import pytest

from cvm.reporting import add_rates, cohort_table, growth_accounting, migration_matrix, score_histogram, voc
from cvm.reporting import figures as fig

TX = pl.DataFrame(
    {
        "customer_id": ["a", "a", "b", "b", "c"],
        "ts": [date(2024, 1, 3), date(2024, 2, 3), date(2024, 1, 9), date(2024, 3, 9), date(2024, 3, 1)],
        "amount": [100.0, 120.0, 50.0, 50.0, 30.0],
    }
)


def test_waterfall_shows_the_bridge_of_each_period() -> None:
    g = growth_accounting(TX, "M")
    w = fig.waterfall_figure(g)
    assert isinstance(w, go.Figure)
    # Latest period (March): start 120, new 30, reactivation 50 (b), churned 120 (a) -> end 80.
    assert list(w.data[0].y) == [120.0, 30.0, 0.0, 50.0, -0.0, -120.0, 80.0]
    buttons = w.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["2024-01", "2024-02", "2024-03"]
    assert buttons[1].args[0]["y"][0] == [150.0, 0.0, 20.0, 0.0, -0.0, -50.0, 120.0]
    assert list(fig.waterfall_figure(g, "2024-01").data[0].y)[-1] == 150.0
    assert fig.waterfall_figure(g.head(0)).layout.title.text == "Revenue bridge (no data)"


def test_other_figures_carry_the_frame_values() -> None:
    g = add_rates(growth_accounting(TX, "M"))
    assert [t.name for t in fig.movements_figure(g).data] == [
        "new", "expansion", "reactivation", "contraction", "churned", "net change"
    ]  # fmt: skip
    assert list(fig.trend_figure(g).data[0].y) == [150.0, 120.0, 80.0]
    assert list(fig.rates_figure(g).data[0].y)[1] == pytest.approx(100 * (150 - 50) / 150)
    cohorts = fig.cohort_heatmap(cohort_table(TX, "M"))
    assert list(cohorts.data[0].y) == ["2024-01", "2024-03"]
    states = pl.DataFrame(
        {"customer_id": ["a", "a", "b"], "as_of": [date(2024, 1, 1), date(2024, 3, 1), date(2024, 3, 1)],
         "segment": ["low", "high", "low"]}
    )  # fmt: skip
    heat = fig.migration_heatmap(migration_matrix(states, date(2024, 2, 1), date(2024, 3, 1)))
    assert list(heat.data[0].y) == ["(none)", "low"]
    scores = pl.DataFrame(
        {"customer_id": ["a", "b"], "as_of": [date(2024, 1, 1)] * 2, "score": ["clv"] * 2, "value": [1.0, 3.0],
         "grade": ["low", "high"]}
    )  # fmt: skip
    assert list(fig.histogram_figure(score_histogram(scores, bins=2, clip_quantile=None)).data[0].y) == [1, 1]
    surveys = pl.DataFrame(
        {"customer_id": ["a", "b"], "ts": [date(2024, 1, 1)] * 2, "nps": [10, 0], "would_recommend": [True, False],
         "did_recommend": [None, None]}
    )  # fmt: skip
    assert list(fig.voc_figure(voc(surveys, "M")).data[0].y) == [0.0]
