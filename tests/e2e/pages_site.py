"""The served workspace of the page checks (tests/e2e/test_pages.py): the demo company, scored, with its pilot.

The data stop on the 10th of a month, so the last month is partial (issue 16: it must be marked, never the
headline); the pilot is the demo's simulated win-back pilot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page

from cvm.api import create_app
from cvm.contracts import DATA_TABLES
from cvm.demo import generate
from cvm.engine import Engine
from tests.integration.test_web_security import form_token
from tests.serving import serve

CUSTOMERS = 600
END = date(2025, 12, 10)
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"


@dataclass(frozen=True)
class Site:
    """The served dashboard, its workspace, an analyst's session token and the objects pages show."""

    url: str
    engine: Engine
    token: str
    customer: str
    pilot: str


def build_workspace(root: Path) -> Path:
    """Generate, ingest, score and run the demo pilot once; return the closed workspace's folder."""
    generate(CUSTOMERS, 11, root / "data", end=END)
    engine = Engine.init(root / "ws")
    try:
        for table in DATA_TABLES:
            assert engine.ingest(table, sorted((root / "data").glob(f"{table}.*")), actor="test").ok
        engine.scoring.score(as_of=END)
        engine.pilots.demo_pilot(root / "data" / "ground_truth" / "customers_truth.parquet", actor="test")
    finally:
        engine.close()
    return root / "ws"


@contextmanager
def served(workspace: Path) -> Iterator[Site]:
    """The workspace's dashboard on a real uvicorn server, logged in as an analyst over HTTP."""
    engine = Engine.open(workspace)
    try:
        key = engine.access.create_key("analyst", "page checks")[1]
        customer = engine.customers.customers(limit=1)[0][0]["customer_id"]
        pilot = engine.pilots.pilots()[0]["name"]
        with serve(create_app(engine)) as url, httpx.Client(base_url=url, timeout=30) as client:
            answer = client.post("/ui/login", data={"key": key, "csrf": form_token(client)})
            assert answer.status_code == 303, answer.text
            yield Site(url, engine, answer.cookies["cvm_session"], customer, pilot)
    finally:
        engine.close()


def logged_in(browser: Browser, site: Site, viewport: dict[str, int]) -> Any:
    """A browser context carrying the analyst's session cookie."""
    context = browser.new_context(base_url=site.url, viewport=viewport)  # type: ignore[arg-type]
    context.add_cookies(
        [{"name": "cvm_session", "value": site.token, "url": site.url, "httpOnly": True, "sameSite": "Strict"}]
    )
    return context


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of ``impacts`` on the page, one line each (rule, impact, first targets).

    axe is evaluated through the DevTools protocol, which the page's Content-Security-Policy does not
    block (a ``<script>`` tag would be).
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    result = page.evaluate("async () => (await window.axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result
        if v.get("impact") in impacts
    ]


def overflow(page: Page) -> dict[str, int]:
    """The document's scroll width against its visible width (nothing may widen the page)."""
    widths: dict[str, int] = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth})"
    )
    return widths
