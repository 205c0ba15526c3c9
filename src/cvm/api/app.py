"""The FastAPI application for one workspace."""

from __future__ import annotations

from typing import Annotated, Any

import polars as pl
from fastapi import FastAPI, HTTPException, Query, status
from fastapi.responses import JSONResponse

from cvm import __version__
from cvm.api.deps import Admin, EngineDep, Reader, Writer, actor
from cvm.api.events import router as events_router
from cvm.api.limits import BodyLimit
from cvm.api.pilots import router as pilots_router
from cvm.api.risk import router as risk_router
from cvm.api.schemas import (
    AuditEntry,
    BatchPublic,
    CustomerPublic,
    CustomerSummary,
    ErasurePublic,
    KeyCreate,
    KeyCreated,
    KeyPublic,
    Page,
    RowsCreate,
    TimelineEvent,
)
from cvm.contracts import DATA_TABLES
from cvm.customers import UnknownCustomerError
from cvm.engine import Engine
from cvm.ingest.readers import SourceError
from cvm.web import mount_dashboard

SHOWN_REJECTS = 100


def _not_found(exc: UnknownCustomerError) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))


def _customer_routes(app: FastAPI) -> None:
    @app.get("/customers", response_model=Page[CustomerSummary], tags=["customers"])
    def list_customers(
        engine: EngineDep,
        _: Reader,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
        q: Annotated[str | None, Query(max_length=200, description="Search id, name or e-mail.")] = None,
    ) -> dict[str, Any]:
        rows, count = engine.customers(limit=limit, offset=offset, q=q)
        return {"data": rows, "count": count}

    @app.get("/customers/{customer_id}", response_model=CustomerPublic, tags=["customers"])
    def get_customer(customer_id: str, engine: EngineDep, _: Reader) -> dict[str, Any]:
        try:
            return engine.customer(customer_id)
        except UnknownCustomerError as exc:
            raise _not_found(exc) from None

    @app.get("/customers/{customer_id}/timeline", response_model=Page[TimelineEvent], tags=["customers"])
    def get_timeline(customer_id: str, engine: EngineDep, _: Reader) -> dict[str, Any]:
        try:
            events = engine.timeline(customer_id)
        except UnknownCustomerError as exc:
            raise _not_found(exc) from None
        return {"data": events, "count": len(events)}

    @app.delete("/customers/{customer_id}", response_model=ErasurePublic, tags=["customers"])
    def erase_customer(customer_id: str, engine: EngineDep, caller: Admin) -> dict[str, Any]:
        try:
            erasure = engine.erase(customer_id, actor=actor(caller))
        except UnknownCustomerError as exc:
            raise _not_found(exc) from None
        return {"subject": erasure.subject, "rows": erasure.rows}


def _data_routes(app: FastAPI) -> None:
    @app.post(
        "/tables/{table}/rows",
        response_model=BatchPublic,
        tags=["data"],
        responses={422: {"description": "Invalid request, or the batch was refused (too many rejected rows)."}},
    )
    def ingest_rows(table: str, body: RowsCreate, engine: EngineDep, caller: Writer) -> Any:
        if table not in DATA_TABLES:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown table {table!r}; tables: {', '.join(DATA_TABLES)}")
        frame = pl.DataFrame(body.rows, infer_schema_length=None).cast(pl.Utf8)
        try:
            result = engine.ingest(
                table, frame, upsert=body.upsert, max_reject_ratio=body.max_reject_ratio, actor=actor(caller)
            )
        except SourceError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        rejects = result.rejects.head(SHOWN_REJECTS).to_dicts() if result.rejects is not None else []
        payload = {**result.summary(), "status": result.status, "rejects": rejects}
        code = status.HTTP_200_OK if result.ok else status.HTTP_422_UNPROCESSABLE_CONTENT
        return JSONResponse(BatchPublic.model_validate(payload).model_dump(mode="json"), status_code=code)


def _admin_routes(app: FastAPI) -> None:
    @app.get("/keys", response_model=Page[KeyPublic], tags=["admin"])
    def list_keys(engine: EngineDep, _: Admin) -> dict[str, Any]:
        keys = [k.__dict__ for k in engine.list_keys()]
        return {"data": keys, "count": len(keys)}

    @app.post("/keys", response_model=KeyCreated, status_code=status.HTTP_201_CREATED, tags=["admin"])
    def create_key(body: KeyCreate, engine: EngineDep, caller: Admin) -> dict[str, Any]:
        try:
            key, secret = engine.create_key(body.role, body.label, actor=actor(caller))
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        return {**key.__dict__, "key": secret}

    @app.delete("/keys/{key_id}", response_model=KeyPublic, tags=["admin"])
    def revoke_key(key_id: str, engine: EngineDep, caller: Admin) -> dict[str, Any]:
        try:
            return engine.revoke_key(key_id, actor=actor(caller)).__dict__
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None

    @app.get("/audit", response_model=Page[AuditEntry], tags=["admin"])
    def audit(engine: EngineDep, _: Admin, limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> dict[str, Any]:
        entries = engine.audit_entries(limit)
        return {"data": entries, "count": len(entries)}


def create_app(engine: Engine) -> FastAPI:
    """Build the API for one opened workspace."""
    app = FastAPI(
        title="CVM",
        version=__version__,
        description="Customer Value Management: customer 360, data hub and (as they land) scores, plans and pilots.",
    )
    app.state.engine = engine
    app.add_middleware(BodyLimit, max_bytes=engine.settings.api.max_body_bytes)  # 413 before a byte past it

    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "workspace": str(engine.workspace),
            "online": engine.online.backend,
        }

    _customer_routes(app)
    _data_routes(app)
    _admin_routes(app)
    app.include_router(events_router)
    app.include_router(risk_router)
    app.include_router(pilots_router)
    mount_dashboard(app)
    return app
