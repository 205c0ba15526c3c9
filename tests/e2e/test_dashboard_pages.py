"""Issue 16's missing pages in a real browser, on the demo company after scoring, segmenting and two plan runs.

Plans & actions equals ``cvm actions summary --json``; the customer page shows the real-time next-best
action and the customer's queued and past actions; Segments lists every segment and stage of
``cvm.yaml`` with the service's sizes; the customers list sorts server-side and exports formula-safe
CSV; search ignores accents. No page overflows horizontally at 1280 or 390 px.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from cvm.contracts import DATA_TABLES
from cvm.contracts.actions import ActionRequest
from cvm.delivery import build_router, enqueue, write_transaction
from cvm.delivery.worker import Worker
from cvm.demo import generate
from cvm.engine import Engine
from cvm.reporting.actions import HELD_KINDS, REQUEST_STATUSES
from tests.conftest import write
from tests.e2e.browser import Watch, cvm_json, screenshot
from tests.e2e.test_dashboard import END, Site, served
from tests.integration.test_outbox import Receiver, fast_settings

pytestmark = pytest.mark.slow

CUSTOMERS = 600
EXTRA = """customer_id,name,email,acquired_at,kind,region,sector,channel,consent_email
C0009990,Société Générale,contact@societe.example,2024-01-05,B2B,North,services,direct,true
C0009991,=HYPERLINK("http://evil.example"),evil@example.com,2024-01-05,B2C,North,consumer,direct,true
"""
DEAD = 3
WIDTHS = (1280, 390)
PAGES = ("/ui/plans", "/ui/segments", "/ui/customers", "/ui/customers?sort=-value")


def _dead_letters(engine: Engine) -> None:
    """Three actions a receiver refuses with 422: dead at once, as the outbox's own tests make them."""
    now = datetime.now(UTC)
    actions = [
        ActionRequest(
            idempotency_key=f"refused-{i}",
            customer_id=f"C{i + 1:07d}",
            plan="contact",
            step="cross_sell",
            action="contact.cross_sell",
            channel="sms",
            objective="sell",
            offer=None,
            expected_value=2.5,
            priority=0,
            reasons=("test",),
            not_before=None,
        )
        for i in range(DEAD)
    ]
    with write_transaction(engine.online) as conn:
        enqueue(conn, actions, now=now)
    with Receiver(fail_rate=1.0, status_on_failure=422) as rx:
        settings = fast_settings(rx.url)
        worker = Worker(engine.online, build_router(settings, engine.workspace, "test"), settings)
        worker.run_cycle()
        worker.close()


def build_pages_workspace(root: Path) -> tuple[Path, dict[str, str]]:
    """The demo company, scored and segmented, with plans run twice (one run's outcomes known) and dead letters.

    Built once for the e2e package by the ``pages_workspace`` fixture (tests/e2e/conftest.py).
    """
    generate(CUSTOMERS, 11, root / "data", end=END)
    engine = Engine.init(root / "ws")
    try:
        for table in DATA_TABLES:
            assert engine.ingest(table, sorted((root / "data").glob(f"{table}.*")), actor="test").ok
        assert engine.ingest("customers", write(root / "extra.csv", EXTRA)).ok
        keys = {"analyst": engine.access.create_key("analyst", "analyst key")[1]}
        engine.scoring.score(as_of=END)
        for as_of in (date(2025, 10, 31), date(2025, 11, 30), END):
            engine.plans.refresh_segments(as_of=as_of)
        engine.plans.act(now=datetime(2025, 11, 20, 10, tzinfo=UTC))  # its 30-day outcomes lie within the data
        engine.plans.act(now=datetime.now(UTC) - timedelta(days=2))  # contact pressure now
        _dead_letters(engine)
    finally:
        engine.close()
    return root / "ws", keys


@pytest.fixture(scope="module")
def site(pages_workspace: tuple[Path, dict[str, str]]) -> Iterator[Site]:
    with served(*pages_workspace) as shared:
        yield shared


@pytest.fixture
def analyst(browser: Browser, site: Site) -> Iterator[tuple[Page, Watch]]:
    context = browser.new_context(
        base_url=site.url,
        viewport={"width": 1280, "height": 900},
        extra_http_headers={"X-API-Key": site.keys["analyst"]},
    )
    page, watch = context.new_page(), Watch(site.url)
    watch.attach(page)
    yield page, watch
    context.close()


def number(page: Page, testid: str) -> float:
    raw = page.get_by_test_id(testid).first.get_attribute("data-value")
    assert raw is not None, testid
    return float(raw)


def test_plans_page_equals_the_json_summary(analyst: tuple[Page, Watch], site: Site) -> None:
    page, watch = analyst
    data = cvm_json("actions", "summary", "-w", str(site.engine.workspace), "--json")
    assert data["totals"]["delivered"] > 0
    assert data["totals"]["dead"] == DEAD
    assert sum(data["held_by_kind"].values()) > 0
    assert any(p["contacts"] for p in data["pressure"])
    assert any(v["measured"] for v in data["value"])
    with httpx.Client(base_url=site.url, headers={"X-API-Key": site.keys["analyst"]}, timeout=60) as client:
        api = client.get("/actions/summary").json()
    assert {k: v for k, v in api.items() if k != "as_of"} == {k: v for k, v in data.items() if k != "as_of"}
    page.goto("/ui/plans")
    for status in REQUEST_STATUSES:
        assert number(page, f"total-{status}") == data["totals"][status], status
    # every status has its name, on its tile and over its column (awaiting confirmation and rejected had none)
    headers = page.get_by_test_id("plans-requests").locator("thead th").all_inner_texts()
    assert len(headers) == len(REQUEST_STATUSES) + 3
    assert all(h.strip() for h in headers), headers
    for status, name in (("awaiting_confirmation", "Awaiting confirmation"), ("rejected", "Rejected")):
        tile = page.locator(".tile").filter(has=page.get_by_test_id(f"total-{status}"))
        assert (tile.locator(".tile-label").text_content() or "").strip() == name
    rows = page.get_by_test_id("request-row")
    assert rows.count() == len(data["requests"])
    for i, expected in enumerate(data["requests"]):
        row = rows.nth(i)
        assert (row.get_attribute("data-plan"), row.get_attribute("data-channel")) == (
            expected["plan"],
            expected["channel"],
        )
        for status in (*REQUEST_STATUSES, "total"):
            assert float(row.get_by_test_id(f"req-{status}").get_attribute("data-value") or "nan") == expected[status]
    for kind in HELD_KINDS:
        shown = page.get_by_test_id(f"held-{kind}")
        if shown.count():
            assert number(page, f"held-{kind}") == data["held_by_kind"][kind], kind
        else:
            assert data["held_by_kind"][kind] == 0, kind
    pressure = page.get_by_test_id("pressure-row")
    assert pressure.count() == len(data["pressure"])
    for i, expected in enumerate(data["pressure"]):
        row = pressure.nth(i)
        assert row.get_attribute("data-channel") == expected["channel"]
        for testid, key in (("pressure-cap", "cap"), ("pressure-contacts", "contacts"), ("pressure-at-cap", "at_cap")):
            assert float(row.get_by_test_id(testid).get_attribute("data-value") or "nan") == expected[key], key
    values = page.get_by_test_id("value-row")
    assert values.count() == len(data["value"])
    for i, expected in enumerate(data["value"]):
        row = values.nth(i)
        assert (
            float(row.get_by_test_id("value-expected").get_attribute("data-value") or "nan")
            == expected["expected_value"]
        )
        realised = row.get_by_test_id("value-realised").get_attribute("data-value")
        assert (float(realised) if realised else None) == expected["realised_revenue"]
    retries = [page.get_by_test_id("dead-retry").nth(i).inner_text() for i in range(DEAD)]
    assert retries == [d["retry"] for d in data["dead"]]
    assert all(r.startswith("cvm actions retry ") for r in retries)
    screenshot(page, "plans-actions")
    watch.assert_clean()


def test_customer_page_shows_the_next_best_action_and_the_actions(analyst: tuple[Page, Watch], site: Site) -> None:
    page, watch = analyst
    engine = site.engine
    customer = next(
        f"C{i:07d}" for i in range(1, CUSTOMERS) if engine.delivery.actions(customer_id=f"C{i:07d}", limit=1)
    )
    ranked = engine.plans.next_best_action(customer)
    page.goto(f"/ui/customers/{customer}")
    chosen = [a for a in ranked if a.chosen]
    shown = page.get_by_test_id("nba-chosen")
    assert [shown.nth(i).get_attribute("data-action") for i in range(shown.count())] == [a.action for a in chosen]
    for i, action in enumerate(chosen):
        assert float(shown.nth(i).get_attribute("data-value") or "nan") == action.expected_value
    held = page.get_by_test_id("nba-held-row")
    assert [held.nth(i).get_attribute("data-action") for i in range(held.count())] == [
        a.action for a in ranked if not a.chosen
    ]
    if not chosen:
        assert page.get_by_test_id("nba-none").is_visible()
    actions = engine.delivery.actions(customer_id=customer, limit=50)
    rows = page.get_by_test_id("customer-action")
    assert [rows.nth(i).get_attribute("data-id") for i in range(rows.count())] == [str(a["id"]) for a in actions]
    assert page.get_by_test_id("score-reasons").count() > 0
    scores = {s["score"]: s["value"] for s in engine.customers.customer(customer)["scores"]}
    assert number(page, "kpi-net-margin-12m") == scores["net_margin_12m"]  # issue 18: net next to gross
    assert number(page, "kpi-margin-12m") == scores["margin_12m"]
    screenshot(page, "customer-nba")
    watch.assert_clean()


def test_survey_comments_are_in_the_timeline(analyst: tuple[Page, Watch], site: Site) -> None:
    page, _ = analyst
    for i in range(1, CUSTOMERS):
        events = site.engine.customers.timeline(f"C{i:07d}")
        said = [e for e in events if e["type"] == "survey" and "“" in e["summary"]]
        if said:
            break
    page.goto(f"/ui/customers/C{i:07d}")
    assert said[0]["summary"].split("“")[1].rstrip("”") in page.get_by_test_id("customer-timeline").inner_text()


def test_segments_page_lists_every_segment_and_stage_of_cvm_yaml(analyst: tuple[Page, Watch], site: Site) -> None:
    page, watch = analyst
    segments, as_of = site.engine.plans.segments()
    assert as_of is not None
    page.goto("/ui/segments")
    rows = page.get_by_test_id("segment-row")
    assert [rows.nth(i).get_attribute("data-segment") for i in range(rows.count())] == [s["segment"] for s in segments]
    for i, seg in enumerate(segments):
        assert (
            float(rows.nth(i).get_by_test_id("segment-size").get_attribute("data-value") or "nan") == seg["customers"]
        )
    overview = site.engine.plans.segments_overview()["segments"]  # gross and net margin next to the size
    for i, seg in enumerate(overview):
        for testid, key in (("segment-margin", "margin_12m"), ("segment-net-margin", "net_margin_12m")):
            shown = rows.nth(i).get_by_test_id(testid).get_attribute("data-value")
            assert (float(shown) if shown else None) == seg[key], (seg["segment"], key)
    everyone = sum(s["net_margin_12m"] or 0.0 for s in overview if s["kind"] == "stage")
    assert everyone < sum(s["margin_12m"] or 0.0 for s in overview if s["kind"] == "stage")  # serving costs
    lifecycle = site.engine.settings.segments.lifecycle
    assert {f"stage:{n}" for n in lifecycle} <= {s["segment"] for s in segments}
    text = page.get_by_test_id("stage-definitions").inner_text()
    assert all(rule in text for rule in lifecycle.values())
    assert "90–180" not in page.content()  # the old activity states' own definitions are gone
    trend = rows.first.get_by_test_id("segment-trend").get_attribute("data-value") or ""
    history = site.engine.plans.segment(segments[0]["segment"])["history"]
    sizes = {h["as_of"]: h["customers"] for h in history}  # refreshes where the segment was empty have no row
    dates = site.engine.plans.segments_overview()["dates"]
    assert [int(n) for n in trend.split(",")] == [sizes.get(d, 0) for d in dates]
    assert len(dates) == min(6, len({*sizes, *dates}))
    watch.assert_clean()


def test_customers_list_sorts_on_the_server_and_exports_safe_csv(analyst: tuple[Page, Watch], site: Site) -> None:
    page, watch = analyst
    page.goto("/ui/customers")
    with page.expect_navigation():
        page.get_by_test_id("sort-value").click()
    with page.expect_navigation():
        page.get_by_test_id("sort-value").click()  # a second click: descending
    assert "sort=-value" in page.url
    values = [float(v or "nan") for v in page.get_by_test_id("customer-value").evaluate_all(
        "cells => cells.map(c => c.dataset.value)")]  # fmt: skip
    assert values == sorted(values, reverse=True)
    assert len(values) == 25
    assert page.get_by_test_id("customer-grade").first.inner_text() == "high"
    page.goto("/ui/customers?sort=name;DROP TABLE customers")  # not a sort key: by customer id
    ids = page.get_by_test_id("customer-link").all_inner_texts()
    assert ids == sorted(ids)
    headers = {"X-API-Key": site.keys["analyst"]}
    with httpx.Client(base_url=site.url, headers=headers, timeout=60) as client:
        exported = client.get("/ui/customers.csv", params={"sort": "-value"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == CUSTOMERS + 2
    assert [float(r["value"]) for r in rows[:25]] == values
    assert {"value", "grade", "stage"} <= set(rows[0])
    evil = next(r for r in rows if r["customer_id"] == "C0009991")
    assert evil["name"].startswith("'=")  # a spreadsheet shows it as text, never runs it
    watch.assert_clean()


def test_search_finds_accented_names_without_the_accents(analyst: tuple[Page, Watch]) -> None:
    page, watch = analyst
    page.goto("/ui/customers")
    page.get_by_test_id("customer-search-input").fill("societe generale")
    with page.expect_navigation():
        page.get_by_test_id("customer-search-submit").click()
    assert page.get_by_test_id("customer-count").get_attribute("data-value") == "1"
    assert page.get_by_test_id("customer-row").first.get_attribute("data-id") == "C0009990"
    assert "Société Générale" in page.get_by_test_id("customer-results").inner_text()
    watch.assert_clean()


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_overflows_horizontally(browser: Browser, site: Site, width: int) -> None:
    context = browser.new_context(
        base_url=site.url,
        viewport={"width": width, "height": 900},
        extra_http_headers={"X-API-Key": site.keys["analyst"]},
    )
    page = context.new_page()
    customer = site.engine.delivery.actions(limit=1)[0]["customer_id"]
    for path in (*PAGES, f"/ui/customers/{customer}"):
        page.goto(path)
        scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll <= client, (path, width, scroll, client)
        name = path.strip("/").replace("/", "-").replace("?sort=-", "-by-")
        screenshot(page, f"{name}-{width}")
    context.close()
