"""Security headers on every response of the dashboard and of ``/docs``.

An ASGI middleware, so that redirects, error pages, FastAPI's own 404/405/422
answers and static files carry them as well as rendered pages. A header a route set
itself (the static files' ``Cache-Control``) is kept. Other paths (the JSON API) pass
through untouched.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cvm.web.render import PREFIX, SECURITY_HEADERS

PATHS = frozenset({"/", "/docs"})


def covered(path: str) -> bool:
    """Whether ``path`` belongs to the dashboard or the docs page."""
    return path in PATHS or path == PREFIX or path.startswith(f"{PREFIX}/")


class SecurityHeaders:
    """Add :data:`cvm.web.render.SECURITY_HEADERS` to the responses of :func:`covered` paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not covered(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
