"""The language switcher: ``POST /ui/language`` remembers the chosen language in the session."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from cvm.i18n import parse_locale
from cvm.web import csrf
from cvm.web.auth import get_sessions, safe_next, session_post
from cvm.web.render import PREFIX, page

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.post("/language")
async def choose_language(request: Request) -> Response:
    """Keep ``lang`` (empty: follow the browser again) for this session, then go back to ``next``."""
    form, token, session = await session_post(request)
    if token is None or session is None or not csrf.same(form.get(csrf.FIELD), session.csrf):
        return page(request, "refused.html", status_code=status.HTTP_403_FORBIDDEN)
    chosen = form.get("lang", "")
    locale = parse_locale(chosen)
    if chosen and locale is None:
        return page(request, "refused.html", status_code=status.HTTP_400_BAD_REQUEST)
    get_sessions(request).set_locale(token, locale)
    return RedirectResponse(safe_next(form.get("next")), status_code=status.HTTP_303_SEE_OTHER)
