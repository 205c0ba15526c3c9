"""Who may see the dashboard: the login form, the session cookie and the role check.

An API key of role analyst or admin opens a session; an ingest key is refused
with 403. Pages also accept the ``X-API-Key`` header, as the API does, so that
scripts and benchmarks need no cookie. Login and logout check a CSRF token
(:mod:`cvm.web.csrf`); failed logins are limited per address and per key id
(:mod:`cvm.web.ratelimit`).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cvm.access import role_allows
from cvm.engine import Engine
from cvm.i18n import N_
from cvm.web import csrf
from cvm.web.ratelimit import LoginLimits
from cvm.web.render import PREFIX, page
from cvm.web.sessions import COOKIE, Session, SessionsFullError, SessionStore

MAX_FORM_BYTES = 4096
FULL_RETRY_S = 60
INVALID = N_("That key is not valid, or it was revoked.")
EXPIRED = N_("This form has expired or was not sent from this page: log in again.")


class LoginRequiredError(Exception):
    """No valid session: the handler redirects to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class TooManyAttemptsError(Exception):
    """Too many failed keys from this address or for this key id: the handler answers 429."""

    def __init__(self, wait: int) -> None:
        super().__init__(wait)
        self.wait = wait


class ForbiddenError(Exception):
    """A valid key whose role may not read: the handler answers 403."""

    def __init__(self, role: str) -> None:
        super().__init__(role)
        self.role = role


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_sessions(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.web_sessions
    return store


def _key_active(engine: Engine, key_id: str) -> bool:
    return any(k.id == key_id and k.active for k in engine.access.list_keys())


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def warm(request: Request) -> None:
    """Start computing the default reports in the background if this data version is not warm yet."""
    request.app.state.web_warmer.ensure()


def viewer(request: Request) -> Session:
    """The caller of a dashboard page: a live session (or key header) whose role may read."""
    engine, sessions = get_engine(request), get_sessions(request)
    warm(request)
    header = request.headers.get("x-api-key")
    if header:
        limits: LoginLimits = request.app.state.web_login_limits
        wait = limits.blocked(_client(request), header)
        if wait:
            raise TooManyAttemptsError(wait)
        key = engine.access.authenticate(header)
        if key is None:
            limits.failed(_client(request), header)
            raise LoginRequiredError(_here(request))
        session = Session(key.id, key.role, key.label, 0.0, 0.0)
    else:
        token = request.cookies.get(COOKIE)
        found = sessions.get(token) if token else None
        if found is None or not _key_active(engine, found.key_id):
            if token and found is not None:
                sessions.close(token)  # the key was revoked since login
            raise LoginRequiredError(_here(request))
        session = found
    if not role_allows(session.role, "read"):
        raise ForbiddenError(session.role)
    request.state.web_user = session
    return session


Viewer = Annotated[Session, Depends(viewer)]


def safe_next(value: str | None) -> str:
    """A local dashboard path to go to after login; anything else becomes the home page."""
    if value and value.startswith(f"{PREFIX}/") and not value.startswith("//") and "\\" not in value:
        return value
    return f"{PREFIX}/growth"


def login_redirect(request: Request, exc: Exception) -> Response:
    """Exception handler for :class:`LoginRequiredError`."""
    target = exc.next_url if isinstance(exc, LoginRequiredError) else ""
    return RedirectResponse(f"{PREFIX}/login?next={quote(target)}", status_code=status.HTTP_303_SEE_OTHER)


def too_many_attempts(request: Request, exc: Exception) -> Response:
    """Exception handler for :class:`TooManyAttemptsError` (a page opened with a wrong ``X-API-Key`` too often)."""
    wait = exc.wait if isinstance(exc, TooManyAttemptsError) else 60
    return PlainTextResponse(
        f"too many failed keys from here or for this key: retry in {wait} s",
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(wait)},
    )


def forbidden_page(request: Request, exc: Exception) -> Response:
    """Exception handler for :class:`ForbiddenError`."""
    role = exc.role if isinstance(exc, ForbiddenError) else "?"
    return page(request, "forbidden.html", status_code=status.HTTP_403_FORBIDDEN, role=role)


def _form(body: bytes) -> dict[str, str]:
    fields = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


async def session_post(request: Request) -> tuple[dict[str, str], str | None, Session | None]:
    """A form posted from a dashboard page: its fields, the session cookie and the live session it names."""
    form = _form(await request.body())
    token = request.cookies.get(COOKIE)
    return form, token, get_sessions(request).get(token) if token else None


def _cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
        max_age=int(get_sessions(request).lifetime_s),
    )


def _login_page(
    request: Request, target: str, error: str | None, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """The login form with its CSRF token, in the form and in the cookie (kept while it is valid)."""
    tokens: csrf.LoginTokens = request.app.state.web_login_tokens
    token = request.cookies.get(csrf.COOKIE) or ""
    if not tokens.valid(token):
        token = tokens.issue()
    response = page(request, "login.html", status_code, headers, next=target, error=error, csrf=token)
    secure = request.url.scheme == "https"
    response.set_cookie(csrf.COOKIE, token, httponly=True, samesite="strict", secure=secure, path=PREFIX)
    return response


router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    warm(request)  # the reports get ready while the user pastes a key
    return _login_page(request, safe_next(next), None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = _form(await request.body())
    target = safe_next(form.get("next"))
    tokens: csrf.LoginTokens = request.app.state.web_login_tokens
    if not tokens.check(request.cookies.get(csrf.COOKIE), form.get(csrf.FIELD)):
        return _login_page(request, target, EXPIRED, status.HTTP_403_FORBIDDEN)
    presented = form.get("key", "").strip()
    if not presented:
        return _login_page(request, target, INVALID)
    limits: LoginLimits = request.app.state.web_login_limits
    client = _client(request)
    wait = limits.admit(client, presented)
    if wait:
        error = f"Too many failed logins from here or with this key: try again in {wait} s."
        return _login_page(request, target, error, status.HTTP_429_TOO_MANY_REQUESTS, {"Retry-After": str(wait)})
    key = await run_in_threadpool(get_engine(request).access.authenticate, presented)
    if key is None:
        return _login_page(request, target, INVALID)
    limits.succeeded(client, presented)
    if not role_allows(key.role, "read"):
        return page(request, "forbidden.html", status_code=status.HTTP_403_FORBIDDEN, role=key.role)
    try:
        token = get_sessions(request).open(key.id, key.role, key.label)
    except SessionsFullError:
        error = N_("Too many dashboard sessions are open: try again later.")
        retry = {"Retry-After": str(FULL_RETRY_S)}
        return _login_page(request, target, error, status.HTTP_503_SERVICE_UNAVAILABLE, retry)
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    _cookie(response, request, token)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session; its CSRF token must come with the form (without a live session there is nothing to end)."""
    form, token, session = await session_post(request)
    if token and session is not None:
        if not csrf.same(form.get(csrf.FIELD), session.csrf):
            return page(request, "refused.html", status_code=status.HTTP_403_FORBIDDEN)
        get_sessions(request).close(token)
    response = RedirectResponse(f"{PREFIX}/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
