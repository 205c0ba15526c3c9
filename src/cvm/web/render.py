"""HTML rendering: the Jinja2 environment, number formats and the page response."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cvm import __version__, i18n
from cvm.customers.events import event_text
from cvm.experiments.verdicts import reason_text
from cvm.i18n import N_
from cvm.i18n.formats import chart_locale, compact, day, finite, money, num, pct, pvalue
from cvm.i18n.labels import label
from cvm.i18n.notes import note_text
from cvm.reporting.definitions import definition_html
from cvm.scoring.reasons import row_text
from cvm.web.language import request_lang

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
    ("growth", N_("Growth")),
    ("customers", N_("Customers")),
    ("segments", N_("Segments")),
    ("scores", N_("Scores & risk")),
    ("plans", N_("Plans & actions")),
    ("pilots", N_("Pilots")),
)


def raw(value: Any) -> str:
    """The exact value for a ``data-value`` attribute (what tests compare with the JSON report)."""
    number = finite(value)
    if number is None:
        return "" if value is None else str(value)
    return repr(int(number)) if isinstance(value, int) else repr(number)


def _definition_html(kind: str) -> str:
    """A report's definitions in the language of the page being rendered (``_notes.html``)."""
    return definition_html(kind, i18n.current().language)


ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)
# One environment serves every language: the callables read the language of the request being rendered
# (a context variable set by page()), where installing one language's translations would race between threads.
ENV.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext)  # type: ignore[attr-defined]
ENV.filters.update(money=money, compact=compact, pct=pct, num=num, raw=raw, day=day, label=label, reasons_text=row_text)
ENV.filters.update(pvalue=pvalue, note=note_text, event_text=event_text, pilot_reason=reason_text)
ENV.globals.update(prefix=PREFIX, nav=NAV, version=__version__, definition_html=_definition_html)
ENV.globals["chart_locale"] = chart_locale  # month and day names on the charts' date axes


def page(
    request: Request, template: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """Render ``template`` with ``context`` as an HTML response (the middleware adds the security headers)."""
    context.setdefault("user", getattr(request.state, "web_user", None))
    context.setdefault("active", "")
    context.setdefault("query", request.url.query)
    lang = request_lang(request)
    with i18n.use_locale(lang):
        html = ENV.get_template(template).render(request=request, lang=lang, languages=i18n.LANGUAGES, **context)
    return HTMLResponse(html, status_code=status_code, headers=headers)
