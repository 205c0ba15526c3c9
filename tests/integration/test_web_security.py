"""Dashboard login over real HTTP: CSRF tokens, login rate limits, session bounds, security headers, /docs."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cvm.api import create_app
from cvm.engine import Engine
from tests.conftest import CUSTOMERS_CSV, TRANSACTIONS_CSV, write
from tests.serving import serve

TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
HEADERS = {
    "content-security-policy": "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


@dataclass
class Site:
    url: str
    engine: Engine
    app: Any
    keys: dict[str, str]

    def client(self, address: str = "127.0.0.1") -> httpx.Client:
        """A client whose requests come from ``address`` (any 127.x.y.z is this machine)."""
        transport = httpx.HTTPTransport(local_address=address)
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False, transport=transport)


@pytest.fixture
def make_site(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Serve a small workspace with ``web`` settings overridden; yields a context manager factory."""
    engine = Engine.init(tmp_path / "ws")
    engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
    engine.ingest("transactions", write(tmp_path / "t.csv", TRANSACTIONS_CSV))
    keys = {name: engine.access.create_key(role, name)[1] for name, role in (("a", "analyst"), ("b", "analyst"))}
    keys["ingest"] = engine.access.create_key("ingest")[1]

    @contextmanager
    def make(**web: Any) -> Iterator[Site]:
        engine.settings.web = engine.settings.web.model_copy(update=web)
        app = create_app(engine)
        with serve(app) as url:
            yield Site(url, engine, app, keys)

    yield make
    engine.close()


@pytest.fixture
def site(make_site: Callable[..., Any]) -> Iterator[Site]:
    with make_site() as s:
        yield s


def form_token(client: httpx.Client, path: str = "/ui/login") -> str:
    """The CSRF token of the form on ``path`` (the login page sets its cookie on the client)."""
    found = TOKEN.search(client.get(path).text)
    assert found, f"no csrf field on {path}"
    return found.group(1)


def login(client: httpx.Client, key: str) -> httpx.Response:
    return client.post("/ui/login", data={"key": key, "csrf": form_token(client), "next": "/ui/customers"})


def sessions(site: Site) -> int:
    return len(site.app.state.web_sessions)


def test_login_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    with site.client() as client:
        assert client.post("/ui/login", data={"key": site.keys["a"]}).status_code == 403
        token = form_token(client)
        assert client.post("/ui/login", data={"key": site.keys["a"], "csrf": token[:-2] + "xx"}).status_code == 403
        assert client.post("/ui/login", data={"key": site.keys["a"], "csrf": "é" * 40}).status_code == 403
        assert "cvm_session" not in client.cookies
        with site.client() as other:  # a token that is not this browser's (no matching cookie)
            refused = other.post("/ui/login", data={"key": site.keys["a"], "csrf": token})
            assert refused.status_code == 403
            assert "cvm_session" not in refused.cookies
        assert sessions(site) == 0
        # a forged cookie with a matching field: the cookie's signature is the server's, so it fails too
        client.cookies.set("cvm_csrf", "forged.value", path="/ui")
        assert client.post("/ui/login", data={"key": site.keys["a"], "csrf": "forged.value"}).status_code == 403
        assert sessions(site) == 0
        client.cookies.clear()
        answer = login(client, site.keys["a"])
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/customers"
        assert client.get("/ui/customers").status_code == 200
    assert sessions(site) == 1


def test_logout_needs_the_sessions_token(site: Site) -> None:
    with site.client() as client:
        assert login(client, site.keys["a"]).status_code == 303
        page = client.get("/ui/growth")
        token = TOKEN.search(page.text)
        assert token is not None
        assert client.post("/ui/logout").status_code == 403
        assert client.post("/ui/logout", data={"csrf": token.group(1)[::-1]}).status_code == 403
        assert client.get("/ui/growth").status_code == 200  # still logged in
        with site.client() as other:  # another session's token does not end this one
            login(other, site.keys["a"])
            other_token = TOKEN.search(other.get("/ui/growth").text)
            assert other_token is not None
            assert client.post("/ui/logout", data={"csrf": other_token.group(1)}).status_code == 403
        assert client.get("/ui/growth").status_code == 200
        ended = client.post("/ui/logout", data={"csrf": token.group(1)})
        assert ended.status_code == 303
        assert client.get("/ui/growth").status_code == 303  # back to the login page
        # logging out with no live session has nothing to protect: it just goes to the login page
        assert client.post("/ui/logout").status_code == 303


def test_failed_logins_are_limited_per_client_address(make_site: Callable[..., Any]) -> None:
    with make_site(login_burst=3, login_per_minute=60) as site, site.client("127.0.0.2") as client:
        wrong = site.keys["a"][:-4] + "AAAA"
        statuses = [login(client, wrong).status_code for _ in range(6)]
        assert statuses[:3] == [200] * 3  # evaluated: "not valid"
        assert statuses[3:] == [429] * 3
        refused = login(client, site.keys["b"])  # even the right key waits: nothing is evaluated
        assert refused.status_code == 429
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 60
        assert "cvm_session" not in client.cookies
        with site.client("127.0.0.3") as elsewhere:  # another address is not held up
            assert login(elsewhere, site.keys["b"]).status_code == 303
        time.sleep(wait)  # the bucket refills: no lasting lockout
        assert login(client, site.keys["b"]).status_code == 303


def test_failed_logins_at_one_key_are_limited_from_every_address(make_site: Callable[..., Any]) -> None:
    # one token every 5 s: the 8 guesses must land before a refill, even on 2 busy cores (60/min failed at load 11)
    with make_site(key_login_burst=4, key_login_per_minute=12) as site:
        key_id = site.keys["a"].split("_")[1]
        statuses = []
        for n in range(8):  # a distributed guess: each address tries once
            with site.client(f"127.0.1.{n + 1}") as client:
                statuses.append(login(client, f"cvm_{key_id}_guess{n}").status_code)
        assert statuses == [200] * 4 + [429] * 4
        with site.client("127.0.2.1") as client:
            assert login(client, site.keys["b"]).status_code == 303  # other keys are not affected
            refused = login(client, site.keys["a"])
            assert refused.status_code == 429
            time.sleep(int(refused.headers["retry-after"]))
            assert login(client, site.keys["a"]).status_code == 303


def test_wrong_keys_in_the_header_of_pages_obey_the_same_limits(make_site: Callable[..., Any]) -> None:
    with make_site(login_burst=3, login_per_minute=60) as site, site.client("127.0.0.4") as client:
        right, wrong = {"X-API-Key": site.keys["a"]}, {"X-API-Key": site.keys["a"][:-4] + "AAAA"}
        assert [client.get("/ui/growth", headers=right).status_code for _ in range(5)] == [200] * 5  # costs nothing
        assert [client.get("/ui/growth", headers=wrong).status_code for _ in range(3)] == [303] * 3
        refused = client.get("/ui/growth", headers=right)  # nothing is checked while the bucket is empty
        assert refused.status_code == 429
        _check_headers(refused)
        assert login(client, site.keys["a"]).status_code == 429  # the same bucket as the login form
        time.sleep(int(refused.headers["retry-after"]))
        assert client.get("/ui/growth", headers=right).status_code == 200


def test_successful_logins_cost_nothing(make_site: Callable[..., Any]) -> None:
    with make_site(login_burst=2, key_login_burst=2) as site, site.client() as client:
        assert all(login(client, site.keys["a"]).status_code == 303 for _ in range(10))


def test_logins_with_one_key_never_end_another_keys_session(make_site: Callable[..., Any]) -> None:
    with make_site(sessions_per_key=3, max_sessions=5) as site, site.client() as b:
        assert login(b, site.keys["b"]).status_code == 303
        a_clients = [site.client() for _ in range(40)]
        for client in a_clients:
            assert login(client, site.keys["a"]).status_code == 303
        assert b.get("/ui/growth").status_code == 200  # B is still logged in
        alive = [c.get("/ui/growth").status_code for c in a_clients]
        assert alive == [303] * 37 + [200] * 3  # A's own oldest sessions ended
        for client in a_clients:
            client.close()
        assert sessions(site) == 4
        with site.client() as extra:  # a third key fills the store; a fourth key must wait
            extra_key = site.engine.access.create_key("analyst")[1]
            assert login(extra, extra_key).status_code == 303
            last_key = site.engine.access.create_key("analyst")[1]
            full = login(extra, last_key)
            assert full.status_code == 503
            assert int(full.headers["retry-after"]) >= 1
        assert b.get("/ui/growth").status_code == 200


def _check_headers(response: httpx.Response) -> None:
    for name, part in HEADERS.items():
        assert part in response.headers.get(name, ""), (response.request.method, response.request.url, name)


def test_every_dashboard_response_carries_the_security_headers(make_site: Callable[..., Any]) -> None:
    with make_site(login_burst=1) as site, site.client() as client:
        seen = {}
        for method, path in (
            ("GET", "/"),
            ("GET", "/ui/growth"),
            ("GET", "/ui/login"),
            ("GET", "/ui/login?next=//evil.example"),
            ("PUT", "/ui/login"),
            ("POST", "/ui/login"),
            ("POST", "/ui/logout"),
            ("GET", "/ui/static/dashboard.css"),
            ("GET", "/ui/static/plotly.min.js"),
            ("GET", "/ui/static/nothing.js"),
            ("GET", "/ui/no-such-page"),
            ("GET", "/docs"),
        ):
            response = client.request(method, path)
            seen[(method, path)] = response.status_code
            _check_headers(response)
        assert seen[("PUT", "/ui/login")] == 405
        assert seen[("GET", "/ui/static/nothing.js")] == 404
        assert seen[("GET", "/ui/no-such-page")] == 404
        assert seen[("POST", "/ui/login")] == 403
        key = {"X-API-Key": site.keys["a"]}
        for path in ("/ui/growth", "/ui/customers", "/ui/customers/NOBODY", "/ui/segments", "/ui/plans"):
            response = client.get(path, headers=key)
            assert response.status_code == (404 if path.endswith("NOBODY") else 200)
            _check_headers(response)
            assert response.headers["cache-control"] == "no-store"
        forbidden = client.get("/ui/growth", headers={"X-API-Key": site.keys["ingest"]})
        assert forbidden.status_code == 403
        _check_headers(forbidden)
        assert login(client, "cvm_nope_wrong").status_code == 200
        limited = login(client, "cvm_nope_wrong")
        assert limited.status_code == 429
        _check_headers(limited)


def test_docs_come_from_this_server(site: Site) -> None:
    with site.client() as client:
        html = client.get("/docs").text
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources
        assert all(s.startswith("/") and not s.startswith("//") for s in sources), sources
        for source in sources:
            assert client.get(source).status_code == 200, source
        assert "cdn" not in html.lower()
        assert client.get("/redoc").status_code == 404  # ReDoc would need a CDN: not served
        assert "/customers" in client.get("/openapi.json").json()["paths"]


def test_docs_can_be_turned_off(make_site: Callable[..., Any]) -> None:
    with make_site(docs=False) as site, site.client() as client:
        assert client.get("/docs").status_code == 404
        assert "/customers" in client.get("/openapi.json").json()["paths"]
