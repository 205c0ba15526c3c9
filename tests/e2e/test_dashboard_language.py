"""The dashboard in French in a real browser: the switcher, French labels and CLDR numbers (344 173,55 € style)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Browser

from cvm.api import create_app
from cvm.engine import Engine
from cvm.i18n import catalog_path
from tests.conftest import write
from tests.e2e.browser import Watch, screenshot
from tests.e2e.test_dashboard import Site, served
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


# Every page in French and Dutch, on the demo company with scores, segments, plan runs, dead letters and a pilot.

LANGS = {"fr": "fr-BE", "nl": "nl-BE"}
PAGES = {
    "growth": "/ui/growth",
    "customers": "/ui/customers",
    "customer": "/ui/customers/C0000001",
    "segments": "/ui/segments",
    "scores": "/ui/scores",
    "plans": "/ui/plans",
    "pilots": "/ui/pilots",
}
# Every text node of the page, trimmed, the charts' SVG text included (CHARTS). Left out: scripts, styles, code
# (column names), the English terms a definition cites (em) and names the user chose (a plan's: translate="no").
CHARTS = True
TEXT_NODES = """(charts) => {
  const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
  const out = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const parent = n.parentElement;
    const tag = parent ? parent.tagName.toLowerCase() : "";
    if (tag === "script" || tag === "style") continue;
    if (parent && parent.closest('[translate="no"], code, .definitions em')) continue;
    if (!charts && parent && parent.closest(".chart-plot")) continue;
    const text = n.textContent.replace(/\\s+/g, " ").trim();
    if (text) out.push(text);
  }
  for (const el of document.querySelectorAll("[placeholder], [aria-label]")) {
    for (const name of ["placeholder", "aria-label"]) {
      const value = el.getAttribute(name);
      if (value) out.push(value.trim());
    }
  }
  return out;
}"""


def english_only(language: str) -> set[str]:
    """The English messages whose translation in ``language`` differs: none of them may be shown as it is."""
    with catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    found = set()
    for message in catalog:
        if not message.id or not message.string:
            continue
        english = message.id if isinstance(message.id, str) else message.id[0]
        translated = message.string if isinstance(message.string, str) else message.string[0]
        if "%(" in english or "%s" in english:  # shown with its values filled in, never as written
            continue
        english = english.replace("%%", "%")
        if re.search(r"[A-Za-z]", english) and english != translated.replace("%%", "%"):
            found.add(" ".join(english.split()))
    return found


@pytest.fixture(scope="module")
def full_site(pages_workspace: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A copy of the missing pages' workspace plus the demo's finished pilot, so the pilots page shows a report."""
    source, keys = pages_workspace
    workspace = Path(shutil.copytree(source, tmp_path_factory.mktemp("dashboard-lang") / "ws"))
    engine = Engine.open(workspace)
    try:
        engine.pilots.demo_pilot(source.parent / "data" / "ground_truth" / "customers_truth.parquet")
    finally:
        engine.close()
    with served(workspace, keys) as shared:
        yield shared


@pytest.mark.parametrize("language", sorted(LANGS))
def test_every_page_speaks_the_language_with_no_english_message_left(
    full_site: Site, browser: Browser, language: str
) -> None:
    """Each page loads in fr-BE and nl-BE, says so in ``<html lang>``, and shows no English message of the catalog."""
    english = english_only(language)
    assert len(english) > 300
    context = browser.new_context(
        base_url=full_site.url,
        viewport={"width": 1280, "height": 900},
        locale=LANGS[language],
        extra_http_headers={"X-API-Key": full_site.keys["analyst"]},
    )
    page, watch = context.new_page(), Watch(full_site.url)
    watch.attach(page)
    left: dict[str, list[str]] = {}
    for name, path in PAGES.items():
        response = page.goto(path)
        assert response is not None, name
        assert response.status == 200, name
        page.wait_for_load_state("networkidle")
        assert page.locator("html").get_attribute("lang") == LANGS[language], name
        shown = {" ".join(t.split()) for t in page.evaluate(TEXT_NODES, CHARTS)} | {page.title().split(" · ")[0]}
        if untranslated := sorted(shown & english):
            left[name] = untranslated
        screenshot(page, f"{name}-{language}")
    assert left == {}
    watch.assert_clean()
    context.close()
