"""HTML rendering: the Jinja2 environment, number formats and the page response."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cvm import __version__

HERE = Path(__file__).parent
PREFIX = "/ui"
# Scripts only from this server; Plotly sets inline styles on the charts it draws.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Set on every dashboard response by cvm.web.headers.SecurityHeaders (X-Frame-Options for old browsers).
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NAV = (
    ("growth", "Growth"),
    ("customers", "Customers"),
    ("segments", "Segments"),
    ("scores", "Scores & risk"),
    ("plans", "Plans & actions"),
    ("pilots", "Pilots"),
)


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def money(value: Any, digits: int = 0) -> str:
    """A money amount with thousands separators; a dash when missing."""
    number = _finite(value)
    return "–" if number is None else f"{number:,.{digits}f}".replace("-", "−")


def compact(value: Any) -> str:
    """A large amount in short form for headline tiles: 1.24M, 815k."""
    number = _finite(value)
    if number is None:
        return "–"
    size = abs(number)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if size >= scale:
            return f"{number / scale:,.{2 if size < 10 * scale else 1}f}{unit}".replace("-", "−")
    return money(number)


def pct(value: Any, digits: int = 1) -> str:
    """A ratio (0.953) as a percentage (95.3%)."""
    number = _finite(value)
    return "–" if number is None else f"{100 * number:.{digits}f}%".replace("-", "−")


def num(value: Any, digits: int = 0) -> str:
    """A count or score with thousands separators."""
    return money(value, digits)


def raw(value: Any) -> str:
    """The exact value for a ``data-value`` attribute (what tests compare with the JSON report)."""
    number = _finite(value)
    if number is None:
        return "" if value is None else str(value)
    return repr(int(number)) if isinstance(value, int) else repr(number)


ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)
ENV.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
ENV.filters.update(money=money, compact=compact, pct=pct, num=num, raw=raw)
ENV.globals.update(prefix=PREFIX, nav=NAV, version=__version__)


def page(
    request: Request, template: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """Render ``template`` with ``context`` as an HTML response (the middleware adds the security headers)."""
    context.setdefault("user", getattr(request.state, "web_user", None))
    context.setdefault("active", "")
    context.setdefault("query", request.url.query)
    html = ENV.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code, headers=headers)
