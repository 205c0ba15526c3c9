"""The API's ``reasons_text`` in the language of ``Accept-Language``, then cvm.yaml, over a real server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import httpx
import polars as pl
import pytest

from cvm.api import create_app
from cvm.engine import Engine
from tests.conftest import CUSTOMERS_CSV, write
from tests.serving import serve

REASONS = "no subscription;no purchase yet"
TEXT = {
    "en": "has no subscription; no purchase yet",
    "fr": "n'a pas d'abonnement; pas encore d'achat",
    "nl": "heeft geen abonnement; nog geen aankoop",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A workspace whose cvm.yaml says nl_BE, with one stored churn score of C1 and its reason codes."""
    root = tmp_path_factory.mktemp("reasons-lang")
    Engine.init(root / "ws").close()
    config = root / "ws" / "cvm.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("  locale: en\n", "  locale: nl_BE\n"), "utf-8")
    engine = Engine.open(root / "ws")
    try:
        assert engine.ingest("customers", write(root / "c.csv", CUSTOMERS_CSV)).ok
        score = {"customer_id": ["C1"], "as_of": [date(2024, 6, 1)], "score": ["churn"], "value": [0.4],
                 "grade": ["medium"], "model_version": ["churn-1"], "reasons": [REASONS]}  # fmt: skip
        with engine.offline.transaction() as tx:
            tx.append("scores", pl.DataFrame(score))
        key = engine.access.create_key("analyst", "reasons")[1]
        with serve(create_app(engine)) as url:
            yield url, key
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("header", "lang"),
    [("fr-BE,fr;q=0.9", "fr"), ("de-DE, nl;q=0.8, fr;q=0.5", "nl"), ("en-GB", "en"), ("de, ja;q=0.5", "nl")],
)
def test_reasons_text_follows_accept_language_then_the_configuration(
    site: tuple[str, str], header: str, lang: str
) -> None:
    url, key = site
    headers = {"X-API-Key": key, "Accept-Language": header}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        view = client.get("/customers/C1")
        history = client.get("/customers/C1/scores")
    assert view.status_code == history.status_code == 200, (view.text[:300], history.text[:300])
    (shown,) = view.json()["scores"]
    (stored,) = history.json()["data"]
    for row in (shown, stored):
        assert row["reasons"] == REASONS  # the codes never change
        assert row["reasons_text"] == TEXT[lang]
