"""The growth page: the revenue bridge of a period as a waterfall, its trend, rates and counts."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import Response

from cvm.i18n import N_
from cvm.reporting import SOURCES
from cvm.reporting.periods import current_complete
from cvm.web import figures, reports
from cvm.web.auth import Viewer
from cvm.web.charts import spec
from cvm.web.filters import PERIODS, Filters, read_period
from cvm.web.render import PREFIX, page

TREND_PERIODS = {"month": 24, "quarter": 12, "year": 10}
TABLE_PERIODS = 12

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def pick(table: list[dict[str, Any]], at: str | None) -> dict[str, Any] | None:
    """The row of period ``at``, else the report's current complete period, else the latest."""
    by_label = {r["period"]: r for r in table}
    if at in by_label:
        return by_label[at]
    return current_complete(table) or (table[-1] if table else None)


@router.get("/growth")
def growth(request: Request, _: Viewer) -> Response:
    query = request.query_params
    filters, period = Filters.from_query(query).within(reports.options(request)), read_period(query)
    source = query.get("source") or "transactions"
    source = source if source in SOURCES else "transactions"
    result = reports.report(request, "growth", filters, period, source=source)
    table = result.table("growth")
    row = pick(table, query.get("at"))
    context: dict[str, Any] = {
        "active": "growth",
        "title": N_("Growth"),
        "filters": filters,
        "options": reports.options(request),
        "sources": SOURCES,
        "source": source,
        "periods": PERIODS,
        "period": period,
        "row": row,
        "summary": result.data["summary"],
        "definitions_html": "growth",
        "labels": [r["period"] for r in table],
        "table": table[-TABLE_PERIODS:][::-1],
        "charts": bool(row),
        "query_without_at": urlencode([(k, v) for k, v in query.multi_items() if k != "at"]),
    }
    if row is not None:
        key = ("growth-charts", filters, period, source, row["period"])
        context |= reports.memo(request, key, lambda: _charts(request, result, row, filters, period, source))
    return page(request, "growth.html", **context)


def _charts(
    request: Request, result: reports.Computed, row: dict[str, Any], filters: Filters, period: str, source: str
) -> dict[str, Any]:
    keep = TREND_PERIODS[period]
    growth_frame, split = result.frame("growth"), result.frame("hunting_farming")
    cohorts = reports.report(request, "cohorts", filters, period, source=source).frame("cohorts")
    recent = cohorts["cohort"].unique().sort().tail(keep)
    return {
        "bridge": spec(figures.bridge(growth_frame, row["period"])),
        "trend": spec(figures.movements(growth_frame.tail(keep))),
        "rates": spec(figures.rates(growth_frame.tail(keep))),
        "split": spec(figures.hunting_farming(split.tail(keep))),
        "split_row": next((r for r in result.table("hunting_farming") if r["period"] == row["period"]), None),
        "cohorts": spec(figures.cohorts(cohorts.filter(pl.col("cohort").is_in(recent.implode())))),
    }
