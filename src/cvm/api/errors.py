"""Error bodies of the API, their handlers, and the ``responses=`` each route documents.

Every error is JSON with a ``detail``: a sentence (:class:`ErrorBody`) for 400, 401, 403, 404, 409
and 413, and a list of field problems (:class:`InvalidBody`) for every 422, whoever raised it. A
problem names the field (``loc``) and says what is wrong; it never echoes the value sent, which may
be large or personal.

CVM's own errors (:class:`cvm.errors.CvmError`) that a route does not catch are answered by one handler
with their :attr:`~cvm.errors.CvmError.status` (404 unknown, 409 conflict, 422 invalid); an
:class:`~cvm.errors.InternalError` is a 500 whose message stays in the server log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cvm.errors import CvmError, InternalError

MAX_OFFSET = 2**31 - 1
"""The largest ``offset`` a list takes: any integer type of any backend holds it."""
MAX_ID = 2**63 - 1
"""The largest numeric id a path takes: the range of the online store's BIGINT keys."""
EXCERPT = 80
"""The most characters of a field name an error repeats."""
MAX_MSG = 500
"""The most characters of an error message (messages name fields, not values)."""


class ErrorBody(BaseModel):
    """An error that is about the request as a whole."""

    detail: str = Field(description="What went wrong, in a sentence.")


class FieldIssue(BaseModel):
    """One problem with one field of the request."""

    loc: list[str | int] = Field(description='Where: ["body", "rows", 0, "amount"], ["query", "limit"], ...')
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="A stable code for the kind of problem, e.g. int_parsing, missing.")


class InvalidBody(BaseModel):
    """The request was understood but a field of it is invalid (every 422)."""

    detail: list[FieldIssue]


_WHY: dict[int, tuple[type[BaseModel], str]] = {
    400: (ErrorBody, "The body could not be read (bytes that are not UTF-8 text)."),
    401: (ErrorBody, "No X-API-Key header, or an unknown or revoked key."),
    403: (ErrorBody, "The key's role does not allow this."),
    404: (ErrorBody, "Not found."),
    409: (ErrorBody, "Conflicts with the current state."),
    413: (ErrorBody, "The body is larger than the configured limit."),
    415: (ErrorBody, "The body is not declared as JSON (Content-Type)."),
    422: (InvalidBody, "A field of the request is invalid; each problem names its field."),
}
KEYED = (401, 403)
"""Every route that takes an API key."""
BODY = (400, 413, 422)
"""Every route that takes a JSON body."""


def responses(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that may answer ``codes``; ``descriptions`` (``e404="..."``) say why."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted(set(codes)):
        model, why = _WHY[code]
        out[code] = {"model": model, "description": descriptions.get(f"e{code}", why)}
    return out


def issue(loc: Iterable[str | int], msg: str, kind: str = "value_error") -> dict[str, Any]:
    """One :class:`FieldIssue` as a dict."""
    return {"loc": list(loc), "msg": msg, "type": kind}


def invalid(loc: Iterable[str | int], msg: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 for one field, in the same shape as FastAPI's own."""
    return RequestValidationError([issue(loc, msg, kind)])


def _short(part: str | int) -> str | int:
    """A part of a field path, cut to :data:`EXCERPT` characters (a JSON key may be megabytes long)."""
    return part if isinstance(part, int) or len(part) <= EXCERPT else part[: EXCERPT - 1] + "…"


def issues(errors: Iterable[Any]) -> list[dict[str, Any]]:
    """Validation errors as :class:`FieldIssue` dicts: field path, message and kind; never the input."""
    return [
        issue(map(_short, e.get("loc", ())), str(e.get("msg", "invalid"))[:MAX_MSG], str(e.get("type", "value_error")))
        for e in errors
    ]


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # registered for this class only
    return JSONResponse({"detail": issues(exc.errors())}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _allowed(request: Request) -> str | None:
    """The documented methods of the resource whose route matched (Starlette names only that route's).

    ``GET`` and ``DELETE /customers/{customer_id}`` are two routes; a 405 on one must name both.
    """
    template = getattr(request.scope.get("route"), "path_format", None)
    operations: dict[str, Any] = request.app.openapi()["paths"].get(template, {}) if template else {}
    return ", ".join(sorted(method.upper() for method in operations)) or None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # registered for this class only
    if exc.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT and isinstance(exc.detail, str):
        return JSONResponse({"detail": [issue((), exc.detail)]}, status_code=exc.status_code, headers=exc.headers)
    allowed = _allowed(request) if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED else None
    if allowed:
        exc.headers = {**(exc.headers or {}), "Allow": allowed}
    return await http_exception_handler(request, exc)


async def _cvm_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CvmError)  # registered for this class only
    if isinstance(exc, InternalError):
        raise exc  # a 500: the server logs the traceback, the client learns nothing about the inside
    text = str(exc)[:MAX_MSG]
    if exc.status == status.HTTP_422_UNPROCESSABLE_CONTENT:
        return JSONResponse({"detail": [issue((), text)]}, status_code=exc.status)
    return JSONResponse({"detail": text}, status_code=exc.status)


def install(app: FastAPI) -> None:
    """Answer every validation error, HTTP error and CVM error of ``app`` in the documented shapes."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(CvmError, _cvm_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
