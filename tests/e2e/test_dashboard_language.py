"""The dashboard in French in a real browser: the switcher, French labels and CLDR numbers (344 173,55 € style)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from cvm.api import create_app
from cvm.engine import Engine
from tests.conftest import write
from tests.e2e.browser import Watch, chromium, screenshot
from tests.serving import serve

pytestmark = pytest.mark.slow

CUSTOMERS = """customer_id,name,acquired_at,kind,region,sector,channel
C1,Société Générale,2024-01-05,B2B,Brussels,finance,direct
C2,Bakkerij Peeters,2024-01-10,B2B,Antwerp,retail,distribution
"""
TRANSACTIONS = """transaction_id,customer_id,ts,amount,margin,product
T1,C1,2024-01-15,344173.55,90000,services
T2,C2,2024-02-20,1250.40,300,supplies
T3,C1,2024-02-15,300000,80000,services
T4,C1,2024-03-15,310000,81000,services
"""
FRENCH_AMOUNT = re.compile(r"^−?\d{1,3}(?:\u202f\d{3})*\xa0€$")  # 344 174 € (narrow no-break spaces)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("dashboard-fr")
    engine = Engine.init(root / "ws")
    try:
        assert engine.ingest("customers", write(root / "c.csv", CUSTOMERS)).ok
        assert engine.ingest("transactions", write(root / "t.csv", TRANSACTIONS)).ok
        key = engine.access.create_key("analyst", "marketing")[1]
        with serve(create_app(engine)) as url:
            yield url, key
    finally:
        engine.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def test_growth_page_in_french_chosen_with_the_switcher(site: tuple[str, str], browser: Browser) -> None:
    url, key = site
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    watch = Watch(url)
    watch.attach(page)
    page.goto(f"{url}/ui/login")
    page.get_by_test_id("login-key").fill(key)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(r".*/ui/growth"))
    assert page.locator("html").get_attribute("lang") == "en-US"  # what the browser asks for
    with page.expect_navigation():
        page.get_by_test_id("language-select").select_option("fr")  # submits itself
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("h1").inner_text() == "Croissance"
    assert page.get_by_test_id("nav-scores").inner_text() == "Scores et risques"
    body = page.locator("main").text_content() or ""  # (tile labels are upper-cased by CSS)
    for french in ("Rétention nette du chiffre d'affaires", "Clients actifs", "Réactivation", "Perdus"):
        assert french in body, french
    cells = [c.inner_text() for c in page.get_by_test_id("cell-end").all()]
    assert cells
    assert all(FRENCH_AMOUNT.match(c) for c in cells), cells
    assert "344\u202f174\xa0€" in cells
    screenshot(page, "growth-fr")
    # The choice is kept in the session: another page, with no ?lang=, stays in French.
    page.get_by_test_id("nav-pilots").click()
    assert page.locator("h1").inner_text() == "Pilotes"
    watch.assert_clean()
    context.close()
