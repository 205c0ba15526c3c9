"""Mount the dashboard on the API's FastAPI app: pages, static files and login handling."""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response

from cvm.web import switch
from cvm.web.auth import (
    ForbiddenError,
    LoginRequiredError,
    TooManyAttemptsError,
    forbidden_page,
    login_redirect,
    too_many_attempts,
)
from cvm.web.auth import router as auth_router
from cvm.web.cache import ReportCache
from cvm.web.csrf import LoginTokens
from cvm.web.docs import ASSETS, mount_docs
from cvm.web.headers import SecurityHeaders
from cvm.web.pages import customers, growth, pilots, plans, scores, segments
from cvm.web.ratelimit import LoginLimits, TokenBuckets
from cvm.web.render import HERE, PREFIX
from cvm.web.sessions import SessionStore
from cvm.web.warm import Warmer

STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
# Files of installed packages served as they are (no CDN).
PACKAGED = {"plotly.min.js": Path(str(files("plotly") / "package_data" / "plotly.min.js")), **ASSETS}
STATIC_MAX_AGE = 86_400


def _static_file(name: str) -> Path:
    if name in PACKAGED:
        return PACKAGED[name]
    path = HERE / "static" / name
    if "/" in name or name.startswith(".") or not path.is_file() or path.suffix not in STATIC_TYPES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no static file {name!r}")
    return path


@lru_cache(maxsize=16)
def _content(path: Path, compressed: bool) -> bytes:
    data = path.read_bytes()
    return gzip.compress(data, compresslevel=6, mtime=0) if compressed else data


def _static_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/static/{name}")
    def static(name: str, request: Request) -> Response:
        """Dashboard assets, Plotly's JavaScript and Swagger UI's files, from the installed packages (no CDN)."""
        path = _static_file(name)
        zipped = "gzip" in request.headers.get("accept-encoding", "")
        headers = {
            "Cache-Control": f"public, max-age={STATIC_MAX_AGE}",
            "Vary": "Accept-Encoding",
        }
        if zipped:
            headers["Content-Encoding"] = "gzip"
        return Response(_content(path, zipped), media_type=STATIC_TYPES[path.suffix], headers=headers)

    return router


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` (pages under ``/ui``) and ``/docs`` on ``app``, whose ``state.engine`` is set."""
    web = app.state.engine.settings.web
    app.state.web_sessions = SessionStore(max_sessions=web.max_sessions, per_key=web.sessions_per_key)
    app.state.web_login_tokens = LoginTokens()
    app.state.web_login_limits = LoginLimits(
        TokenBuckets(web.login_per_minute, web.login_burst), TokenBuckets(web.key_login_per_minute, web.key_login_burst)
    )
    app.state.web_cache = ReportCache()
    app.state.web_warmer = Warmer(app.state.engine, app.state.web_cache)
    app.add_exception_handler(LoginRequiredError, login_redirect)
    app.add_exception_handler(ForbiddenError, forbidden_page)
    app.add_exception_handler(TooManyAttemptsError, too_many_attempts)
    app.add_middleware(SecurityHeaders)
    if web.docs:
        mount_docs(app)

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse(f"{PREFIX}/growth", status_code=status.HTTP_303_SEE_OTHER)

    for router in (
        auth_router,
        switch.router,
        _static_router(),
        growth.router,
        customers.router,
        segments.router,
        scores.router,
        plans.router,
        pilots.router,
    ):
        app.include_router(router)
