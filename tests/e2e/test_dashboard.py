"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against `cvm serve`'s app."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from cvm.api import create_app
from cvm.contracts import DATA_TABLES
from cvm.demo import generate
from cvm.engine import Engine
from cvm.reporting import ReportFilter
from cvm.web.cache import ReportCache
from cvm.web.search import search
from cvm.web.sessions import SessionStore
from tests.e2e.browser import Watch, cvm_json, screenshot
from tests.integration.test_web_security import form_token
from tests.serving import serve

pytestmark = pytest.mark.slow

CUSTOMERS = 2_000
END = date(2025, 12, 31)
VIEWPORT = {"width": 1360, "height": 900}
GROWTH_CHARTS = ["chart-bridge", "chart-trend", "chart-rates", "chart-hunting-farming", "chart-cohorts"]


@dataclass(frozen=True)
class Site:
    """The served dashboard and the keys of each role."""

    url: str
    engine: Engine
    keys: dict[str, str]


@pytest.fixture(scope="module")
def site_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The demo company ingested once per module, with a key per role; closed (sites open it or a copy)."""
    root = tmp_path_factory.mktemp("dashboard")
    generate(CUSTOMERS, 7, root / "data", end=END)
    engine = Engine.init(root / "ws")
    try:
        for table in DATA_TABLES:
            assert engine.ingest(table, sorted((root / "data").glob(f"{table}.*")), actor="test").ok
        keys = {role: engine.access.create_key(role, f"{role} key")[1] for role in ("analyst", "admin", "ingest")}
        for as_of in (date(2025, 11, 30), END):  # the life-cycle stages the Segments page migrates between
            engine.plans.refresh_segments(as_of=as_of)
    finally:
        engine.close()
    return root / "ws", keys


@contextmanager
def served(workspace: Path, keys: dict[str, str]) -> Iterator[Site]:
    """The dashboard of ``workspace`` on a real uvicorn server, until the block ends."""
    engine = Engine.open(workspace)
    try:
        with serve(create_app(engine)) as url:
            yield Site(url, engine, keys)
    finally:
        engine.close()


@pytest.fixture(scope="module")
def site(site_workspace: tuple[Path, dict[str, str]]) -> Iterator[Site]:
    """The dashboard on the module's workspace, shared by the tests that do not change its data."""
    with served(*site_workspace) as shared:
        yield shared


@pytest.fixture
def own_site(site_workspace: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[Site]:
    """The dashboard on this test's own copy of the workspace, for a test that changes the data."""
    workspace, keys = site_workspace
    with served(Path(shutil.copytree(workspace, tmp_path / "ws")), keys) as own:
        yield own


@pytest.fixture
def anon(browser: Browser, site: Site) -> Iterator[tuple[Page, Watch]]:
    """A fresh browser context with no session, and its watch."""
    context = browser.new_context(base_url=site.url, viewport=VIEWPORT)
    page = context.new_page()
    watch = Watch(site.url)
    watch.attach(page)
    yield page, watch
    context.close()


def http_login(client: httpx.Client, key: str, **form: str) -> httpx.Response:
    """Log in over HTTP as the login form does: with the CSRF token the login page hands out."""
    return client.post("/ui/login", data={"key": key, "csrf": form_token(client), **form})


def login(page: Page, key: str, target: str = "/ui/growth") -> None:
    page.goto(target)
    assert "/ui/login" in page.url
    page.get_by_test_id("login-key").fill(key)
    with page.expect_navigation():
        page.get_by_test_id("login-submit").click()


@pytest.fixture(scope="module")
def analyst_context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """One logged-in analyst context for the module (its cache keeps plotly.js between pages)."""
    with httpx.Client(base_url=site.url, timeout=30) as client:
        response = http_login(client, site.keys["analyst"])
        assert response.status_code == 303
        token = response.cookies["cvm_session"]
    context = browser.new_context(base_url=site.url, viewport=VIEWPORT)
    context.add_cookies(
        [{"name": "cvm_session", "value": token, "url": site.url, "httpOnly": True, "sameSite": "Strict"}]
    )
    yield context
    context.close()


@pytest.fixture
def analyst(analyst_context: BrowserContext, site: Site) -> Iterator[tuple[Page, Watch]]:
    """A new page of the logged-in analyst, and its watch."""
    page = analyst_context.new_page()
    watch = Watch(site.url)
    watch.attach(page)
    yield page, watch
    page.close()


def visit(page: Page, path: str) -> int:
    """Open ``path`` and wait for its load event (charts are drawn before it fires)."""
    response = page.goto(path)
    assert response is not None
    return response.status


def test_no_key_redirects_to_login_and_login_logout_round_trip(anon: tuple[Page, Watch], site: Site) -> None:
    page, watch = anon
    visit(page, "/")
    assert "/ui/login" in page.url
    screenshot(page, "login")
    page.get_by_test_id("login-key").fill("cvm_nope_wrong")
    with page.expect_navigation():
        page.get_by_test_id("login-submit").click()
    assert "not valid" in page.get_by_test_id("login-error").inner_text()
    login(page, site.keys["analyst"], "/ui/customers")
    assert page.url.endswith("/ui/customers")
    assert "analyst" in page.get_by_test_id("user-role").inner_text()
    cookie = next(c for c in page.context.cookies() if c["name"] == "cvm_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    with page.expect_navigation():
        page.get_by_test_id("logout").click()
    assert "/ui/login" in page.url
    visit(page, "/ui/customers")
    assert "/ui/login" in page.url
    watch.assert_clean()


def test_a_form_from_another_site_cannot_log_in_or_out(anon: tuple[Page, Watch], site: Site) -> None:
    page, _ = anon
    login(page, site.keys["analyst"])
    assert page.get_by_test_id("user-role").is_visible()
    for path, fields in (("/ui/logout", ""), ("/ui/login", f'<input name="key" value="{site.keys["admin"]}">')):
        # a page that is not the dashboard's (as on another site) posts a form without the token
        page.set_content(f'<form method="post" action="{site.url}{path}">{fields}<button>go</button></form>')
        with page.expect_navigation():
            page.get_by_role("button").click()
        assert page.get_by_test_id("refused" if path == "/ui/logout" else "login-error").is_visible()
    visit(page, "/ui/growth")
    assert "analyst" in page.get_by_test_id("user-role").inner_text()  # still the analyst's session


def test_docs_load_nothing_from_another_host(anon: tuple[Page, Watch]) -> None:
    page, watch = anon
    assert visit(page, "/docs") == 200
    page.locator(".opblock").first.wait_for(timeout=20_000)
    assert page.locator(".opblock").count() > 10
    screenshot(page, "docs")
    watch.assert_clean()


def test_roles(anon: tuple[Page, Watch], site: Site) -> None:
    page, _ = anon
    login(page, site.keys["ingest"])
    assert page.get_by_test_id("forbidden").is_visible()
    assert not any(c["name"] == "cvm_session" for c in page.context.cookies())
    with httpx.Client(base_url=site.url, follow_redirects=False, timeout=30) as client:
        assert client.get("/ui/growth").status_code == 303
        assert client.get("/ui/growth", headers={"X-API-Key": site.keys["ingest"]}).status_code == 403
        assert http_login(client, site.keys["ingest"]).status_code == 403
        assert client.get("/ui/customers", headers={"X-API-Key": site.keys["admin"]}).status_code == 200
        # a revoked key ends its sessions at the next request
        key, secret = site.engine.access.create_key("analyst", "to revoke")
        login_ = http_login(client, secret, next="/ui/customers")
        assert login_.status_code == 303
        assert client.get("/ui/customers").status_code == 200
        site.engine.access.revoke_key(key.id)
        assert client.get("/ui/customers").status_code == 303


def test_customer_search_and_360(analyst: tuple[Page, Watch], site: Site) -> None:
    page, watch = analyst
    visit(page, "/ui/customers")
    assert int(page.get_by_test_id("customer-count").get_attribute("data-value") or 0) == CUSTOMERS
    first = site.engine.customers.customers(limit=1)[0][0]
    page.get_by_test_id("customer-search-input").fill(first["customer_id"])
    with page.expect_navigation():
        page.get_by_test_id("customer-search-submit").click()
    assert page.get_by_test_id("customer-count").get_attribute("data-value") == "1"
    with page.expect_navigation():
        page.get_by_test_id("customer-link").first.click()
    view = site.engine.customers.customer(first["customer_id"])
    assert page.get_by_test_id("customer-name").inner_text() == view["profile"]["name"]
    assert float(page.get_by_test_id("kpi-revenue").get_attribute("data-value") or "nan") == view["kpis"]["revenue"]
    assert page.get_by_test_id("timeline-event").count() == min(len(view["timeline"]), 200)
    screenshot(page, "customer-360")
    watch.assert_clean()
    assert visit(page, "/ui/customers/NOBODY") == 404


def test_sessions_expire_when_idle_or_old() -> None:
    now = [0.0]
    store = SessionStore(lifetime_s=100, idle_s=10, clock=lambda: now[0])
    token = store.open("k1", "analyst", None)
    now[0] = 9
    assert store.get(token) is not None  # used: the idle clock restarts
    now[0] = 18
    assert store.get(token) is not None
    now[0] = 29
    assert store.get(token) is None  # idle for 11 s
    token = store.open("k1", "analyst", None)
    for t in range(35, 130, 9):
        now[0] = t
        alive = store.get(token) is not None
        assert alive == (t - 29 <= 100), t  # never past the absolute lifetime
    assert all(token not in repr(s) for s in store._sessions.values())  # only hashes are kept
    assert token not in store._sessions


def test_pages_carry_security_headers_and_serve_plotly_locally(site: Site) -> None:
    with httpx.Client(base_url=site.url, headers={"X-API-Key": site.keys["analyst"]}, timeout=60) as client:
        page = client.get("/ui/plans")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        js = client.get("/ui/static/plotly.min.js")
        assert js.status_code == 200
        assert js.headers["content-type"].startswith("text/javascript")
        assert "plotly.js" in js.text[:2000].lower()
        assert client.get("/ui/static/..%2Fapp.py").status_code == 404
        assert client.get("/ui/static/nothing.js").status_code == 404


def test_search_index_answers_as_the_engine(site: Site) -> None:
    cache = ReportCache()
    first = site.engine.customers.customers(limit=1)[0][0]
    for q in ("", first["customer_id"].lower(), first["name"].split()[-1].upper(), "@example", "no such one", "01"):
        for offset in (0, 25):
            expected = site.engine.customers.customers(limit=25, offset=offset, q=q or None)
            assert search(site.engine, cache, q, 25, offset) == expected, q


def test_unknown_filter_values_are_ignored(site: Site) -> None:
    with httpx.Client(base_url=site.url, headers={"X-API-Key": site.keys["analyst"]}, timeout=60) as client:
        plain = client.get("/ui/growth").text
        odd = client.get("/ui/growth", params={"kind": "Martian", "segment": "not a segment"})
    assert odd.status_code == 200
    assert odd.text.count('data-testid="kpi-end"') == 1
    assert plain.split('data-testid="kpi-end"')[1][:40] == odd.text.split('data-testid="kpi-end"')[1][:40]


def charts_rendered(page: Page) -> list[str]:
    """The chart divs on the page, each checked to hold Plotly's rendered ``.main-svg``."""
    charts = page.locator(".chart-plot")
    names = []
    for i in range(charts.count()):
        chart = charts.nth(i)
        chart.locator(".main-svg").first.wait_for(state="attached", timeout=10_000)
        names.append(chart.get_attribute("data-testid") or "")
    return names


def value(page: Page, testid: str) -> float:
    """The exact number behind a figure shown on the page (its ``data-value``)."""
    raw = page.get_by_test_id(testid).first.get_attribute("data-value")
    assert raw, f"{testid} has no value"
    return float(raw)


PAGES = {
    "growth": GROWTH_CHARTS,
    "customers": [],
    "segments": ["chart-migration", "chart-nps-segments", "chart-nps-trend"],
    "scores": ["chart-churn-reasons", "chart-churn-period", "chart-silent-churn"],
    "plans": [],
    "pilots": [],
}


@pytest.mark.parametrize("slug", PAGES)
def test_every_page_loads_clean_and_draws_its_charts(analyst: tuple[Page, Watch], slug: str) -> None:
    page, watch = analyst
    assert visit(page, f"/ui/{slug}") == 200
    assert page.get_by_test_id(f"nav-{slug}").get_attribute("aria-current") == "page"
    assert charts_rendered(page) == PAGES[slug]
    if slug == "scores":  # scoring has not run yet: the page says so, and still shows churn
        assert "No scores yet" in page.get_by_test_id("empty-scores").inner_text()
    screenshot(page, slug)
    watch.assert_clean()


def test_plans_page_before_any_action_says_how_actions_start(analyst: tuple[Page, Watch]) -> None:
    page, _ = analyst
    visit(page, "/ui/plans")
    assert "cvm run" in page.get_by_test_id("empty-plans").inner_text()


def test_pilots_page_says_how_to_start_a_pilot(analyst: tuple[Page, Watch]) -> None:
    page, watch = analyst
    assert visit(page, "/ui/pilots") == 200
    assert "cvm pilot create" in page.get_by_test_id("empty-pilots").inner_text()
    watch.assert_clean()


def test_a_filter_changes_the_numbers_server_side(analyst: tuple[Page, Watch], site: Site) -> None:
    page, watch = analyst
    visit(page, "/ui/growth")
    shown = page.get_by_test_id("shown-period").inner_text()
    everyone = value(page, "kpi-end")
    with page.expect_navigation():
        page.get_by_test_id("filter-kind").select_option("B2B")  # applies on change
    assert "kind=B2B" in page.url
    assert charts_rendered(page) == GROWTH_CHARTS
    b2b = site.engine.reports.report("growth", "month", ReportFilter(kind="B2B")).to_dict()["tables"]["growth"]
    row = next(r for r in b2b if r["period"] == shown)
    assert value(page, "kpi-end") == row["end"] != everyone
    assert value(page, "kpi-customers-active") == row["customers_active"]
    screenshot(page, "growth-b2b")
    north = ReportFilter(region="North", channel="direct")
    for path, kind, testid, key in (
        ("/ui/segments", "voc", "kpi-nps", "nps"),
        ("/ui/scores", "churn", "kpi-churned", "churned"),
    ):
        unfiltered = site.engine.reports.report(kind, "month").to_dict()["summary"][key]
        some = site.engine.reports.report(kind, "month", north).to_dict()["summary"][key]
        visit(page, f"{path}?region=North&channel=direct")
        assert value(page, testid) == some != unfiltered
    watch.assert_clean()


def test_growth_numbers_equal_the_json_report(analyst: tuple[Page, Watch], site: Site) -> None:
    page, watch = analyst
    args = ["report", "growth", "--period", "quarter", "--kind", "B2C", "-w", str(site.engine.workspace), "--json"]
    report = cvm_json(*args)
    rows = {r["period"]: r for r in report["tables"]["growth"]}
    visit(page, "/ui/growth?period=quarter&kind=B2C")
    row = rows[page.get_by_test_id("shown-period").inner_text()]
    tiles = {"end": "kpi-end", "start": "kpi-start", "new": "kpi-new", "expansion": "kpi-expansion"}
    tiles |= {"reactivation": "kpi-reactivation", "contraction": "kpi-contraction", "churned": "kpi-churned"}
    tiles |= {"nrr": "kpi-nrr", "grr": "kpi-grr", "quick_ratio": "kpi-quick-ratio"}
    tiles |= {"customers_active": "kpi-customers-active", "customer_churn_rate": "kpi-customer-churn"}
    for key, testid in tiles.items():
        assert value(page, testid) == row[key], key
    table = page.get_by_test_id("growth-row")
    assert table.count() == min(12, len(rows))
    for i in range(table.count()):
        line = table.nth(i)
        expected = rows[line.get_attribute("data-period") or ""]
        assert float(line.get_by_test_id("cell-end").get_attribute("data-value") or "nan") == expected["end"]
        assert int(line.get_by_test_id("cell-active").get_attribute("data-value") or -1) == expected["customers_active"]
    watch.assert_clean()


@pytest.fixture
def own_analyst(browser: Browser, own_site: Site) -> Iterator[tuple[Page, Watch]]:
    """A page of an analyst logged in to this test's own site, and its watch."""
    context = browser.new_context(base_url=own_site.url, viewport=VIEWPORT)
    page, watch = context.new_page(), Watch(own_site.url)
    watch.attach(page)
    login(page, own_site.keys["analyst"])
    yield page, watch
    context.close()


def test_scores_appear_once_scoring_has_run(own_analyst: tuple[Page, Watch], own_site: Site) -> None:
    """Scoring commits to the store, so cached pages must refresh (the manifest version moves).

    On its own copy of the workspace, so the other tests see no scores whatever the order.
    """
    page, watch = own_analyst
    site = own_site
    visit(page, "/ui/scores")  # cached before scoring: no scores yet
    assert page.get_by_test_id("empty-scores").count() == 1
    site.engine.scoring.score(as_of=END)
    visit(page, "/ui/scores")
    assert page.get_by_test_id("empty-scores").count() == 0
    assert charts_rendered(page)[0] == "chart-score-histogram"
    clv = site.engine.reports.report("scores", "month", score="clv").to_dict()
    assert value(page, "kpi-scored") == clv["summary"]["customers"] == CUSTOMERS
    for grade in clv["tables"]["grades"]:
        assert value(page, f"kpi-grade-{grade['grade']}") == grade["customers"]
    screenshot(page, "scores-with-clv")
    customer = site.engine.customers.customers(limit=1)[0][0]["customer_id"]
    visit(page, f"/ui/customers/{customer}")
    assert page.get_by_test_id("score-clv").count() == 1
    watch.assert_clean()
