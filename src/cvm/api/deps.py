"""Dependencies: the engine, the calling key, and role checks.

FastAPI runs a plain ``def`` dependency in its thread pool, a hop there and back per
dependency and request. ``get_engine`` does no I/O, so it is ``async``; the key lookup
reads the database, so authentication and the role check are one threaded dependency.
A route that runs in a thread anyway (``POST /events``) takes the header as
:data:`PresentedKey` and calls :func:`authorize` in its own thread: one hop, not two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from cvm.access import ApiKey, Permission, role_allows
from cvm.engine import Engine

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key from `cvm keys create`.")


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]
PresentedKey = Annotated[str | None, Security(api_key_header)]
"""The ``X-API-Key`` header as sent (read without a thread: pass it to :func:`authorize`)."""


def get_caller(engine: EngineDep, presented: PresentedKey) -> ApiKey:
    """The active key presented in ``X-API-Key`` (401 when missing, unknown or revoked)."""
    if not presented:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header", headers={"WWW-Authenticate": "X-API-Key"}
        )
    key = engine.access.authenticate(presented)
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key", headers={"WWW-Authenticate": "X-API-Key"}
        )
    return key


def authorize(engine: Engine, presented: str | None, permission: Permission) -> ApiKey:
    """The caller of ``presented`` if its role grants ``permission`` (401 or 403 otherwise); reads the database."""
    caller = get_caller(engine, presented)
    if not role_allows(caller.role, permission):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {caller.role!r} may not {permission}")
    return caller


def require(permission: Permission) -> Callable[[Engine, str | None], ApiKey]:
    """A dependency that admits callers whose role grants ``permission`` (403 otherwise)."""

    def check(engine: EngineDep, presented: PresentedKey) -> ApiKey:
        return authorize(engine, presented, permission)

    return check


Reader = Annotated[ApiKey, Depends(require("read"))]
Writer = Annotated[ApiKey, Depends(require("write"))]
Admin = Annotated[ApiKey, Depends(require("admin"))]


def actor(key: ApiKey) -> str:
    return f"key:{key.id}"
