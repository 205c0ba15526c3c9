"""The request body cap (``api.max_body_bytes``): a 413 before a byte past the limit is read.

A pure ASGI middleware, ahead of everything else in the app:

- a request whose ``Content-Length`` declares more than the limit is answered 413 at
  once; its body is not read (the server discards what the client still sends, so the
  client reads the answer once it has written its request);
- a request without ``Content-Length`` (chunked) is counted as its chunks arrive: the
  chunk that passes the limit raises :class:`BodyTooLarge`, an ``HTTPException``, so
  the route that was reading the body answers 413 (FastAPI re-raises HTTP exceptions
  met while reading a body) and what was received is dropped unparsed;
- a request within its declared length needs no counting: the HTTP server frames the
  body by it, so those requests pass through untouched (no cost per request).

Starlette's ``RequestBodyLimitMiddleware`` (recent versions only) refuses a declared
length only when the route starts reading, after authentication and routing; this one
refuses first, and its 413 has the JSON ``detail`` of every other API error.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """The request body passed ``api.max_body_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes (api.max_body_bytes)")


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with a 413 (see the module docstring).

    Parameters
    ----------
    app
        The ASGI app to protect.
    max_bytes
        The largest body accepted, in bytes.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await _refuse(scope, receive, send, BodyTooLarge(self.max_bytes))
            else:
                await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, counting its body as it is read."""
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:  # raised where nothing turned it into a response
            if started:
                raise
            await _refuse(scope, receive, send, exc)


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: BodyTooLarge) -> None:
    await JSONResponse({"detail": exc.detail}, status_code=exc.status_code)(scope, receive, send)
