"""Pages whose data arrives with later stages: plans and actions (pilots moved to :mod:`cvm.web.pages.pilots`).

They are real pages (same layout, navigation and access rules) that say what
they will show and which part of CVM brings it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cvm.i18n import N_
from cvm.web.auth import Viewer
from cvm.web.render import PREFIX, page

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/plans")
def plans(request: Request, _: Viewer) -> Response:
    return page(
        request,
        "placeholder.html",
        active="plans",
        title=N_("Plans & actions"),
        lede=N_("Which customers each plan reached, through which channel, and what it earned."),
        arrives=N_("dynamic customer management"),
        text=N_("Plans, triggers and the next-best-action queue are not built yet. Once they land, this page shows:"),
        shows=[
            N_("actions requested, sent, delivered and failed, per plan and channel;"),
            N_("contact pressure per customer against the contact policy;"),
            N_("expected versus realised value of the actions taken."),
        ],
    )
