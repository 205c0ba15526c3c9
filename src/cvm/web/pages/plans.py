"""Plans & actions: what the plans asked for, what the policy held back, contact pressure, value and dead letters.

A thin adapter: the numbers are :meth:`cvm.services.DeliveryService.summary`'s, the same that
``cvm actions summary --json`` prints (definitions in :mod:`cvm.reporting.actions`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cvm.i18n import N_
from cvm.reporting.actions import HELD_KINDS, REQUEST_STATUSES
from cvm.web.auth import Viewer, get_engine
from cvm.web.render import PREFIX, page

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/plans")
def plans(request: Request, _: Viewer) -> Response:
    summary = get_engine(request).delivery.summary()  # not cached: the outbox changes between data versions
    return page(
        request,
        "plans.html",
        active="plans",
        title=N_("Plans & actions"),
        summary=summary,
        statuses=REQUEST_STATUSES,
        kinds=HELD_KINDS,
    )
