"""Dependencies: the engine, the calling key, and role checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from cvm.access import ApiKey, Permission, role_allows
from cvm.engine import Engine

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key from `cvm keys create`.")


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_caller(engine: EngineDep, presented: Annotated[str | None, Security(api_key_header)]) -> ApiKey:
    if not presented:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header", headers={"WWW-Authenticate": "X-API-Key"}
        )
    key = engine.authenticate(presented)
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key", headers={"WWW-Authenticate": "X-API-Key"}
        )
    return key


def require(permission: Permission) -> Callable[[ApiKey], ApiKey]:
    """A dependency that admits callers whose role grants ``permission`` (403 otherwise)."""

    def check(caller: Annotated[ApiKey, Depends(get_caller)]) -> ApiKey:
        if not role_allows(caller.role, permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {caller.role!r} may not {permission}")
        return caller

    return check


Reader = Annotated[ApiKey, Depends(require("read"))]
Writer = Annotated[ApiKey, Depends(require("write"))]
Admin = Annotated[ApiKey, Depends(require("admin"))]


def actor(key: ApiKey) -> str:
    return f"key:{key.id}"
