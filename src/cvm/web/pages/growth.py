"""The growth page: the revenue bridge of a period as a waterfall, its trend, rates and counts."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import Response

from cvm.i18n import N_
from cvm.reporting import SOURCES
from cvm.web import figures, reports
from cvm.web.auth import Viewer
from cvm.web.charts import spec
from cvm.web.filters import PERIODS, Filters, read_period
from cvm.web.render import PREFIX, page

TREND_PERIODS = {"month": 24, "quarter": 12, "year": 10}
TABLE_PERIODS = 12

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _complete(row: dict[str, Any], period: str, today: date) -> bool:
    """Whether the period has ended (the last one in the data may still be running)."""
    start = date.fromisoformat(row["period_start"])
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1) <= today


def pick(table: list[dict[str, Any]], at: str | None, period: str, today: date) -> dict[str, Any] | None:
    """The row of period ``at``, else the latest complete period, else the latest."""
    by_label = {r["period"]: r for r in table}
    if at in by_label:
        return by_label[at]
    complete = [r for r in table if _complete(r, period, today)]
    shown = complete or table
    return shown[-1] if shown else None


@router.get("/growth")
def growth(request: Request, _: Viewer) -> Response:
    query = request.query_params
    filters, period = Filters.from_query(query).within(reports.options(request)), read_period(query)
    source = query.get("source") or "transactions"
    source = source if source in SOURCES else "transactions"
    result = reports.report(request, "growth", filters, period, source=source)
    table = result.table("growth")
    row = pick(table, query.get("at"), period, reports.today())
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
