"""Customer search and the customer 360 page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from cvm.contracts.csvsafe import safe_polars
from cvm.customers import UnknownCustomerError
from cvm.customers.listing import LISTED, SORTS, sort_key
from cvm.web.auth import Viewer, get_engine
from cvm.web.nba import next_best
from cvm.web.render import PREFIX, page
from cvm.web.search import SHOWN, matches
from cvm.web.search import search as find

PAGE_SIZE = 25
TIMELINE_SHOWN = 200
ACTIONS_SHOWN = 50
EXPORT_MAX = 100_000  # rows in one CSV export (the first ones in the page's order)

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/customers")
def search(
    request: Request,
    _: Viewer,
    q: Annotated[str, Query(max_length=200)] = "",
    offset: Annotated[int, Query(ge=0)] = 0,
    sort: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    column, descending = sort_key(sort)
    engine, cache = get_engine(request), request.app.state.web_cache
    rows, count = find(engine, cache, q, PAGE_SIZE, offset, sort, (*SHOWN, *LISTED))
    return page(
        request,
        "customers.html",
        active="customers",
        q=q,
        rows=rows,
        count=count,
        offset=offset,
        limit=PAGE_SIZE,
        sort=("-" if descending else "") + column,
        sort_column=column,
        descending=descending,
        sorts=SORTS,
        export_max=EXPORT_MAX,
    )


@router.get("/customers.csv")
def export(
    request: Request,
    _: Viewer,
    q: Annotated[str, Query(max_length=200)] = "",
    sort: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The matching customers (at most ``EXPORT_MAX``) as CSV, in the page's order; no cell runs as a formula."""
    hits = matches(get_engine(request), request.app.state.web_cache, q, sort)
    frame = hits.head(EXPORT_MAX).select(*SHOWN, *LISTED)
    headers = {
        "Content-Disposition": 'attachment; filename="customers.csv"',
        "X-CVM-Rows": str(frame.height),
        "X-CVM-Matches": str(hits.height),
    }
    return Response(safe_polars(frame).write_csv(), media_type="text/csv; charset=utf-8", headers=headers)


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
        net_scores={s["score"]: s for s in view["scores"] if s["score"] in ("margin_12m", "net_margin_12m")},
        actions=engine.delivery.actions(customer_id=customer_id, limit=ACTIONS_SHOWN),
    )
