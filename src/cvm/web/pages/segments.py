"""Segments: every segment and stage of cvm.yaml with its size and trend, how customers move, how each feels."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cvm.i18n import N_
from cvm.web import figures, reports
from cvm.web.auth import Viewer, get_engine
from cvm.web.charts import spec
from cvm.web.filters import PERIODS, Filters, read_period
from cvm.web.render import PREFIX, page

SPLITS = {
    "kind": N_("Kind"),
    "channel": N_("Channel"),
    "region": N_("Region"),
    "sector": N_("Sector"),
    "value_grade": N_("Value grade"),
}
TREND_POINTS = 6  # segment refreshes shown as a segment's trend
TREND_PERIODS = {"month": 24, "quarter": 12, "year": 10}

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _choice(value: str | None, allowed: list[str], default: str) -> str:
    return value if value in allowed else default


@router.get("/segments")
def segments(request: Request, _: Viewer) -> Response:
    query = request.query_params
    options = reports.options(request)
    filters, period = Filters.from_query(query).within(options), read_period(query)
    graded = any(s.startswith("clv:") for s in options["segment"])
    splits = [s for s in SPLITS if s != "value_grade" or graded]
    by = _choice(query.get("by"), splits, "region")
    # Life-cycle stages as cvm.yaml defines them (stored refreshes), never a second "lapsed"/"at_risk" rule
    states = _choice(query.get("states"), ["stage", "value_grade"] if graded else ["stage"], "stage")
    migration = reports.report(request, "migration", filters, period, states=states)
    voc = reports.report(request, "voc", filters, period)
    voc_by = reports.report(request, "voc", filters, period, by=by)
    trend = voc.frame("voc").tail(TREND_PERIODS[period])
    by_segment = voc_by.table("overall")
    catalog = get_engine(request).plans.segments_overview(TREND_POINTS)
    context: dict[str, Any] = {
        "catalog": catalog,
        "stages": [row for row in catalog["segments"] if row["kind"] == "stage"],
        "active": "segments",
        "title": N_("Segments"),
        "filters": filters,
        "options": options,
        "periods": PERIODS,
        "period": period,
        "splits": {s: SPLITS[s] for s in splits},
        "by": by,
        "states": states,
        "migration": migration.data,
        "matrix": migration.table("matrix"),
        "voc": voc.data["summary"],
        "voc_by": by_segment,
        "charts": True,
    }

    def charts() -> dict[str, str | None]:
        return {
            "chart_migration": spec(
                figures.migration(migration.frame("matrix"), "stage" if states == "stage" else "grade")
            )
            if migration.table("matrix")
            else None,
            "chart_nps": spec(figures.voc_trend(trend)) if trend.height else None,
            "chart_segments": spec(figures.nps_by_segment(by_segment, by)) if by_segment else None,
        }

    context |= reports.memo(request, ("segments-charts", filters, period, states, by), charts)
    return page(request, "segments.html", **context)
