"""``Cache-Control: no-store`` on every API response, which may carry personal data.

A plain ASGI middleware (no extra task or body copy per request, unlike ``BaseHTTPMiddleware``):
it adds the header to the response start unless the route set its own (the dashboard's static
files are cacheable) or the path is public and personal-data free (``/health``, the schema).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
"""Paths whose responses hold no personal data and may be cached."""


class NoStore:
    """Mark each HTTP response ``Cache-Control: no-store`` unless it says otherwise or is :data:`PUBLIC`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC:
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_no_store)
