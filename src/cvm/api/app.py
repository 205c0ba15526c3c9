"""The FastAPI application for one workspace."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse

from cvm import __version__
from cvm.api import accesslog, errors
from cvm.api.deps import Admin, EngineDep, Reader, Writer, actor
from cvm.api.errors import BODY, KEYED, MAX_OFFSET
from cvm.api.events import router as events_router
from cvm.api.language import ApiLang
from cvm.api.limits import BodyLimit
from cvm.api.nostore import NoStore
from cvm.api.pilots import router as pilots_router
from cvm.api.risk import router as risk_router
from cvm.api.rows import reject_issues, rows_frame
from cvm.api.schemas import (
    AuditEntry,
    BatchPublic,
    BatchRefused,
    CustomerPublic,
    CustomerSummary,
    ErasurePublic,
    Health,
    KeyCreate,
    KeyCreated,
    KeyPublic,
    Page,
    RowsCreate,
    TimelineEvent,
)
from cvm.contracts import DATA_TABLES
from cvm.engine import Engine
from cvm.i18n import use_locale
from cvm.ingest.readers import SourceError
from cvm.web import mount_dashboard

SHOWN_REJECTS = 100
CUSTOMER = "/customers/{customer_id:path}"
"""A customer's path: the id may hold ``/`` (sent as ``%2F``)."""
MISSING = errors.responses(*KEYED, 404, 422, e404="Unknown customer.")


def _customer_routes(app: FastAPI) -> None:
    """The customer routes; registered after every other ``/customers/{customer_id}/...`` route, which they shadow."""

    @app.get(
        "/customers", response_model=Page[CustomerSummary], tags=["customers"], responses=errors.responses(*KEYED, 422)
    )
    def list_customers(
        engine: EngineDep,
        _: Reader,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        q: Annotated[str | None, Query(max_length=200, description="Search id, name or e-mail.")] = None,
    ) -> dict[str, Any]:
        rows, count = engine.customers.customers(limit=limit, offset=offset, q=q)
        return {"data": rows, "count": count}

    @app.get(f"{CUSTOMER}/timeline", response_model=Page[TimelineEvent], tags=["customers"], responses=MISSING)
    def get_timeline(customer_id: str, engine: EngineDep, _: Reader) -> dict[str, Any]:
        events = engine.customers.timeline(customer_id)  # unknown: 404 by cvm.api.errors
        return {"data": events, "count": len(events)}

    @app.get(CUSTOMER, response_model=CustomerPublic, tags=["customers"], responses=MISSING)
    def get_customer(customer_id: str, engine: EngineDep, _: Reader, lang: ApiLang) -> dict[str, Any]:
        with use_locale(lang):  # reasons_text in the language asked for; codes unchanged
            return engine.customers.customer(customer_id)  # unknown: 404 by cvm.api.errors

    @app.delete(CUSTOMER, response_model=ErasurePublic, tags=["customers"], responses=MISSING)
    def erase_customer(customer_id: str, engine: EngineDep, caller: Admin) -> dict[str, Any]:
        erasure = engine.customers.erase(customer_id, actor=actor(caller))  # unknown: 404 by cvm.api.errors
        return {"subject": erasure.subject, "rows": erasure.rows}


def _data_routes(app: FastAPI) -> None:
    @app.post(
        "/tables/{table}/rows",
        response_model=BatchPublic,
        tags=["data"],
        responses={
            **errors.responses(*KEYED, *BODY),
            422: {
                "model": BatchRefused | errors.InvalidBody,
                "description": "A field is invalid, or the batch was "
                "refused for its rejected rows (then with the batch and its rejects).",
            },
        },
    )
    def ingest_rows(
        table: Annotated[str, Path(pattern=f"^({'|'.join(DATA_TABLES)})$", description="A hub table.")],
        body: RowsCreate,
        engine: EngineDep,
        caller: Writer,
    ) -> Any:
        try:
            result = engine.ingest(
                table,
                rows_frame(body.rows),
                upsert=body.upsert,
                max_reject_ratio=body.max_reject_ratio,
                actor=actor(caller),
            )
        except SourceError as exc:
            raise errors.invalid(("body", "rows"), str(exc)) from None
        rejects = result.rejects.head(SHOWN_REJECTS).to_dicts() if result.rejects is not None else []
        payload = {**result.summary(), "status": result.status, "rejects": rejects}
        if result.ok:
            return JSONResponse(BatchPublic.model_validate(payload).model_dump(mode="json"))
        refused = BatchRefused.model_validate({**payload, "detail": reject_issues(rejects)})
        return JSONResponse(refused.model_dump(mode="json"), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _admin_routes(app: FastAPI) -> None:
    @app.get("/keys", response_model=Page[KeyPublic], tags=["admin"], responses=errors.responses(*KEYED))
    def list_keys(engine: EngineDep, _: Admin) -> dict[str, Any]:
        keys = [k.__dict__ for k in engine.access.list_keys()]
        return {"data": keys, "count": len(keys)}

    @app.post(
        "/keys",
        response_model=KeyCreated,
        status_code=status.HTTP_201_CREATED,
        tags=["admin"],
        responses=errors.responses(*KEYED, *BODY),
    )
    def create_key(body: KeyCreate, engine: EngineDep, caller: Admin) -> dict[str, Any]:
        key, secret = engine.access.create_key(body.role, body.label, actor=actor(caller))
        return {**key.__dict__, "key": secret}

    @app.delete(
        "/keys/{key_id}",
        response_model=KeyPublic,
        tags=["admin"],
        responses=errors.responses(*KEYED, 404, 422, e404="Unknown key."),
    )
    def revoke_key(key_id: str, engine: EngineDep, caller: Admin) -> dict[str, Any]:
        try:
            return engine.access.revoke_key(key_id, actor=actor(caller)).__dict__
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None

    @app.get("/audit", response_model=Page[AuditEntry], tags=["admin"], responses=errors.responses(*KEYED, 422))
    def audit(engine: EngineDep, _: Admin, limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> dict[str, Any]:
        entries = engine.access.audit_entries(limit)
        return {"data": entries, "count": len(entries)}


def create_app(engine: Engine) -> FastAPI:
    """Build the API for one opened workspace."""
    app = FastAPI(
        title="CVM",
        version=__version__,
        description="Customer Value Management: customer 360, data hub and (as they land) scores, plans and pilots.",
        docs_url=None,  # cvm.web serves /docs from local files (web.docs); FastAPI's loads a CDN
        redoc_url=None,
    )
    app.state.engine = engine
    accesslog.install()  # access logs mask customer ids and search terms
    app.add_middleware(BodyLimit, max_bytes=engine.settings.api.max_body_bytes)  # 413 before a byte past it

    errors.install(app)
    app.add_middleware(NoStore)

    @app.get("/health", tags=["service"], response_model=Health, response_model_exclude_none=True)
    def health(request: Request) -> dict[str, Any]:
        """``ok`` while serving; with a valid key also the version and the online backend."""
        presented = request.headers.get("X-API-Key")  # optional, so not a documented security requirement
        if not presented or engine.access.authenticate(presented) is None:
            return {"status": "ok"}
        return {"status": "ok", "version": __version__, "online": engine.access.backend}

    _data_routes(app)
    _admin_routes(app)
    app.include_router(events_router)
    app.include_router(risk_router)
    app.include_router(pilots_router)
    _customer_routes(app)  # after the routers: its /customers/{customer_id:path} would take their sub-paths
    mount_dashboard(app)
    return app
