"""Customer search and the customer 360 page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from cvm.customers import UnknownCustomerError
from cvm.web.auth import Viewer, get_engine
from cvm.web.nba import next_best
from cvm.web.render import PREFIX, page
from cvm.web.search import search as find

PAGE_SIZE = 25
TIMELINE_SHOWN = 200
ACTIONS_SHOWN = 50

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/customers")
def search(
    request: Request,
    _: Viewer,
    q: Annotated[str, Query(max_length=200)] = "",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    rows, count = find(get_engine(request), request.app.state.web_cache, q, PAGE_SIZE, offset)
    return page(
        request, "customers.html", active="customers", q=q, rows=rows, count=count, offset=offset, limit=PAGE_SIZE
    )


@router.get("/customers/{customer_id}")
def customer_360(request: Request, customer_id: str, _: Viewer) -> Response:
    engine = get_engine(request)
    try:
        view = engine.customers.customer(customer_id)  # not cached: its timeline includes the online store's deliveries
    except UnknownCustomerError as exc:
        return page(
            request,
            "not_found.html",
            status_code=status.HTTP_404_NOT_FOUND,
            active="customers",
            message=str(exc),
            back=f"{PREFIX}/customers",
        )
    title = view["profile"].get("name") or customer_id
    return page(
        request,
        "customer.html",
        active="customers",
        title=title,
        view=view,
        shown=TIMELINE_SHOWN,
        nba=next_best(engine, customer_id),
        actions=engine.delivery.actions(customer_id=customer_id, limit=ACTIONS_SHOWN),
    )
