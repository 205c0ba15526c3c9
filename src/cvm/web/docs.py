"""Swagger UI at ``/docs``, from files on this server: no CDN, and the dashboard's CSP.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script.
Here its files come from the ``fastapi-offline`` package (which ships Swagger UI's
``dist`` files) through the dashboard's static route, and ``static/docs.js`` starts it.
``web.docs: false`` turns the page off; ``/openapi.json`` stays.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from cvm.web.render import ENV

SWAGGER_UI = Path(str(files("fastapi_offline") / "static"))
ASSETS = {name: SWAGGER_UI / name for name in ("swagger-ui-bundle.js", "swagger-ui.css")}


def mount_docs(app: FastAPI) -> None:
    """Serve Swagger UI for ``app``'s OpenAPI schema at ``/docs``."""
    html = ENV.get_template("docs.html").render(title=app.title, openapi_url=app.openapi_url)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(html)
