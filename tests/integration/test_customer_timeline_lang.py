"""The customer page's timeline in the page's language, from the real app over HTTP; the API keeps English and codes."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from cvm.api import create_app
from cvm.engine import Engine
from tests.conftest import CUSTOMERS_CSV, TRANSACTIONS_CSV, write
from tests.serving import serve

SUBSCRIPTIONS = """subscription_id,customer_id,product,start,end,mrr,end_reason
S1,C1,cloud,2024-01-10,2024-06-10,30.44,too_expensive
"""
EVENT = re.compile(r'<span data-testid="event-summary">([^<]*)</span>')


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("timeline-lang")
    engine = Engine.init(root / "ws")
    try:
        assert engine.ingest("customers", write(root / "c.csv", CUSTOMERS_CSV)).ok
        assert engine.ingest("transactions", write(root / "t.csv", TRANSACTIONS_CSV)).ok
        assert engine.ingest("subscriptions", write(root / "s.csv", SUBSCRIPTIONS)).ok
        key = engine.access.create_key("analyst", "timeline")[1]
        with serve(create_app(engine)) as url:
            yield url, key
    finally:
        engine.close()


def _events(url: str, key: str, lang: str) -> list[str]:
    response = httpx.get(f"{url}/ui/customers/C1?lang={lang}", headers={"X-API-Key": key}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return [html.unescape(e) for e in EVENT.findall(response.text)]


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("fr", {"acquis via direct (B2C)", "hardware 100,00 € (marge 30,00 €)",
                "cloud à un MRR de 30,44 €", "cloud résilié (trop cher)"}),
        ("nl", {"verworven via direct (B2C)", "hardware € 100,00 (marge € 30,00)",
                "cloud aan een MRR van € 30,44", "cloud beëindigd (te duur)"}),
    ],
)  # fmt: skip
def test_timeline_sentences_are_in_the_page_language(site: tuple[str, str], lang: str, expected: set[str]) -> None:
    url, key = site
    shown = {re.sub("[\xa0\u202f]", " ", e) for e in _events(url, key, lang)}  # CLDR's no-break spaces
    assert expected <= shown, shown


def test_the_api_keeps_english_summaries_and_codes(site: tuple[str, str]) -> None:
    url, key = site
    headers = {"X-API-Key": key, "Accept-Language": "fr-BE"}
    events = httpx.get(f"{url}/customers/C1/timeline", headers=headers, timeout=30).json()["data"]
    by_type = {e["type"]: e for e in events}
    assert by_type["subscription_ended"] == {
        "ts": "2024-06-10T00:00:00+00:00",
        "type": "subscription_ended",
        "source": "subscriptions",
        "summary": "cloud ended (too_expensive)",
    }
    bought = {e["summary"] for e in events if e["type"] == "transaction"}
    assert bought == {"hardware 100.0 (margin 30.0)", "supplies 50.5 (margin 15.0)"}
