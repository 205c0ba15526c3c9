"""The HTML report's date axes name the months in the report's language (Plotly locale from CLDR), in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from cvm.engine import Engine
from cvm.i18n import Lang, use_locale
from cvm.reporting.html import write_html
from tests.conftest import CUSTOMERS_CSV, write
from tests.e2e.browser import screenshot

pytestmark = pytest.mark.slow
MOVEMENTS = 1  # the second chart: revenue movements per period, on a date axis when no period is partial


def _transactions() -> str:
    """Twelve complete months of 2024 (the data end on 31 December, so no period is partial)."""
    rows = [f"T{m}{c},{c},2024-{m:02d}-10T10:00:00Z,{100 + 7 * m},30,hardware" for m in range(1, 13)
            for c in ("C1", "C2")]  # fmt: skip
    return "\n".join(["transaction_id,customer_id,ts,amount,margin,product", *rows, "T0,C1,2024-12-31,10,3,x"]) + "\n"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report-months")
    engine = Engine.init(root / "ws")
    try:
        assert engine.ingest("customers", write(root / "c.csv", CUSTOMERS_CSV)).ok
        assert engine.ingest("transactions", write(root / "t.csv", _transactions())).ok
        out = {}
        for locale in ("fr_BE", "nl_BE", "en"):
            with use_locale(Lang(locale)):
                out[locale] = write_html(engine.offline, root / f"{locale}.html")
        return out
    finally:
        engine.close()


def _ticks(browser: Browser, path: Path, shot: str) -> tuple[str, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.as_uri())
    chart = page.locator(".js-plotly-plot").nth(MOVEMENTS)
    chart.locator(".xtick text").first.wait_for()
    kind = chart.evaluate("d => d._fullLayout.xaxis.type")
    ticks = chart.evaluate("d => Array.from(d.querySelectorAll('.xtick text')).map(t => t.textContent)")
    chart.scroll_into_view_if_needed()
    screenshot(page, shot)
    page.close()
    assert errors == [], errors
    return kind, ticks


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("fr_BE", ["janv. 2024", "mars 2024", "mai 2024", "juil. 2024", "sept. 2024", "nov. 2024"]),
        ("nl_BE", ["jan 2024", "mrt 2024", "mei 2024", "jul 2024", "sep 2024", "nov 2024"]),
        ("en", ["Jan 2024", "Mar 2024", "May 2024", "Jul 2024", "Sep 2024", "Nov 2024"]),
    ],
)
def test_month_names_on_date_axes_follow_the_report_language(
    reports: dict[str, Path], browser: Browser, locale: str, expected: list[str]
) -> None:
    kind, ticks = _ticks(browser, reports[locale], f"report-months-{locale}")
    assert kind == "date"
    assert ticks == expected
