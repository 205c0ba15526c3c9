"""Scores and risk: score and CLV distributions (when scoring has run), churn reasons and silent churn."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cvm.i18n import N_
from cvm.web import figures, reports
from cvm.web.auth import Viewer
from cvm.web.charts import spec
from cvm.web.filters import PERIODS, Filters, read_period
from cvm.web.render import PREFIX, page

TREND_PERIODS = {"month": 24, "quarter": 12, "year": 10}
router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _scores(request: Request, filters: Filters, period: str, wanted: str | None) -> dict[str, Any]:
    """The score section: which scores exist, the chosen one's histogram and grades."""
    available: list[str] = reports.report(request, "scores", Filters(), period).data["summary"]["available"]
    if not available:
        return {"available": []}
    score = wanted if wanted in available else ("clv" if "clv" in available else available[0])
    result = reports.report(request, "scores", filters, period, score=score)
    histogram = result.frame("histogram")
    return {
        "available": available,
        "score": score,
        "score_summary": result.data["summary"],
        "grades": result.table("grades"),
        "chart_histogram": spec(figures.histogram(histogram, score)) if histogram.height else None,
    }


@router.get("/scores")
def scores(request: Request, _: Viewer) -> Response:
    query = request.query_params
    filters, period = Filters.from_query(query).within(reports.options(request)), read_period(query)
    churn = reports.report(request, "churn", filters, period)
    silent = reports.report(request, "silent-churn", filters, period)
    keep = TREND_PERIODS[period]
    by_period = churn.frame("by_period").tail(keep)
    silent_by_period = silent.frame("by_period").tail(keep)
    context: dict[str, Any] = {
        "active": "scores",
        "title": N_("Scores & risk"),
        "filters": filters,
        "options": reports.options(request),
        "periods": PERIODS,
        "period": period,
        "churn": churn.data,
        "silent": silent.data["summary"],
        "silent_params": silent.data["parameters"],
        "charts": True,
        "definitions_churn": "churn",
        "definitions_scores": "scores",
    }

    def charts() -> dict[str, str | None]:
        return {
            "chart_reasons": spec(figures.churn_reasons(churn.frame("reasons"))) if churn.table("reasons") else None,
            "chart_churn": spec(figures.churn_by_period(by_period)) if by_period.height else None,
            "chart_silent": spec(figures.silent_churn(silent_by_period)) if silent_by_period.height else None,
        }

    context |= reports.memo(request, ("scores-charts", filters, period), charts)
    wanted = query.get("score")
    context |= reports.memo(
        request, ("score-section", filters, period, wanted), lambda: _scores(request, filters, period, wanted)
    )
    return page(request, "scores.html", **context)
