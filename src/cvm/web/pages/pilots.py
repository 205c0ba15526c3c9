"""Pilots: every pilot, and one pilot's report (arms, SRM, lifts, segments, value, recommendation)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cvm.experiments.service import UnknownPilotError
from cvm.i18n import N_
from cvm.web.auth import Viewer, get_engine
from cvm.web.render import PREFIX, page

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/pilots")
def pilots(request: Request, _: Viewer, name: str | None = None) -> Response:
    engine = get_engine(request)
    listed = engine.pilots.pilots()
    names = [p["name"] for p in listed]
    chosen = name if name in names else (names[0] if names else None)
    context: dict[str, Any] = {
        "active": "pilots",
        "title": N_("Pilots"),
        "pilots": listed,
        "chosen": chosen,
        "report": None,
    }
    if chosen is not None:
        try:
            context["report"] = engine.pilots.pilot_report(chosen)
        except UnknownPilotError:
            context["report"] = None
    return page(request, "pilots.html", **context)
