"""The dashboard's language over real HTTP: session choice, then ?lang=, then Accept-Language, then cvm.yaml."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cvm.api import create_app
from cvm.engine import Engine
from tests.conftest import CUSTOMERS_CSV, TRANSACTIONS_CSV, write
from tests.integration.test_web_security import form_token
from tests.serving import serve

HTML_LANG = re.compile(r'<html lang="([^"]+)">')
H1 = re.compile(r"<h1>([^<]*)</h1>")
TITLE = {"en": "Growth", "fr": "Croissance", "nl": "Groei"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A small workspace whose cvm.yaml says nl_BE, served by uvicorn; yields (url, analyst key)."""
    root = tmp_path_factory.mktemp("language")
    Engine.init(root / "ws").close()
    config = root / "ws" / "cvm.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("  locale: en\n", "  locale: nl_BE\n"), encoding="utf-8"
    )
    engine = Engine.open(root / "ws")
    try:
        assert engine.settings.reporting.locale == "nl_BE"
        engine.ingest("customers", write(root / "c.csv", CUSTOMERS_CSV))
        engine.ingest("transactions", write(root / "t.csv", TRANSACTIONS_CSV))
        key = engine.access.create_key("analyst", "lang")[1]
        with serve(create_app(engine)) as url:
            yield url, key
    finally:
        engine.close()


@contextmanager
def _logged_in(url: str, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as client:
        token = form_token(client)
        assert client.post("/ui/login", data={"key": key, "csrf": token, "next": "/ui/growth"}).status_code == 303
        yield client


def _shown(response: httpx.Response) -> tuple[str, str]:
    assert response.status_code == 200, response.text[:300]
    lang, h1 = HTML_LANG.search(response.text), H1.search(response.text)
    assert lang
    assert h1
    return lang.group(1), h1.group(1)


def test_the_configured_locale_when_nothing_else_chooses(site: tuple[str, str]) -> None:
    url, key = site
    with httpx.Client(base_url=url, timeout=30) as client:
        assert _shown(client.get("/ui/growth", headers={"X-API-Key": key})) == ("nl-BE", TITLE["nl"])
        assert "€\xa0" in client.get("/ui/growth", headers={"X-API-Key": key}).text  # € 1.330 style
        login = client.get("/ui/login")
        assert HTML_LANG.search(login.text).group(1) == "nl-BE"  # type: ignore[union-attr]
        assert "Aanmelden bij CVM" in login.text


def test_the_browser_language_beats_the_configuration(site: tuple[str, str]) -> None:
    url, key = site
    with httpx.Client(base_url=url, timeout=30) as client:
        headers = {"X-API-Key": key, "Accept-Language": "de-DE,fr-BE;q=0.9,nl;q=0.5"}
        assert _shown(client.get("/ui/growth", headers=headers)) == ("fr-BE", TITLE["fr"])
        headers["Accept-Language"] = "de, ja;q=0.9"  # nothing supported: the configuration
        assert _shown(client.get("/ui/growth", headers=headers)) == ("nl-BE", TITLE["nl"])


def test_the_url_beats_the_browser(site: tuple[str, str]) -> None:
    url, key = site
    with httpx.Client(base_url=url, timeout=30) as client:
        headers = {"X-API-Key": key, "Accept-Language": "fr"}
        assert _shown(client.get("/ui/growth?lang=en", headers=headers)) == ("en", TITLE["en"])
        assert _shown(client.get("/ui/growth?lang=xx", headers=headers)) == ("fr", TITLE["fr"])


def test_the_choice_in_the_session_beats_everything_and_is_remembered(site: tuple[str, str]) -> None:
    url, key = site
    with _logged_in(url, key) as client:
        page = client.get("/ui/growth", headers={"Accept-Language": "fr"})
        assert _shown(page) == ("fr", TITLE["fr"])
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        chosen = client.post(
            "/ui/language", data={"csrf": token.group(1), "lang": "nl", "next": "/ui/growth?period=quarter"}
        )
        assert (chosen.status_code, chosen.headers["location"]) == (303, "/ui/growth?period=quarter")
        for query, browser in (("", "fr"), ("?lang=en", "en"), ("?lang=fr", "fr")):
            assert _shown(client.get(f"/ui/growth{query}", headers={"Accept-Language": browser})) == ("nl", "Groei")
        assert _shown(client.get("/ui/scores"))[0] == "nl"
        # Back to "follow the browser" (an empty choice), then ?lang= counts again.
        assert client.post("/ui/language", data={"csrf": token.group(1), "lang": ""}).status_code == 303
        assert _shown(client.get("/ui/growth?lang=fr")) == ("fr", TITLE["fr"])


def test_a_choice_without_the_sessions_token_is_refused(site: tuple[str, str]) -> None:
    url, key = site
    with _logged_in(url, key) as client:
        refused = client.post("/ui/language", data={"csrf": "forged", "lang": "fr"})
        assert refused.status_code == 403
        assert _shown(client.get("/ui/growth", headers={"Accept-Language": "en"})) == ("en", TITLE["en"])
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/growth").text)
        assert token
        assert client.post("/ui/language", data={"csrf": token.group(1), "lang": "klingon"}).status_code == 400
    with httpx.Client(base_url=url, timeout=30) as anonymous:
        assert anonymous.post("/ui/language", data={"csrf": "x", "lang": "fr"}).status_code == 403


def test_every_page_names_its_language(site: tuple[str, str], tmp_path: Path) -> None:
    url, key = site
    with httpx.Client(base_url=url, timeout=30) as client:
        for path in ("/ui/growth", "/ui/customers", "/ui/segments", "/ui/scores", "/ui/plans", "/ui/pilots"):
            page = client.get(f"{path}?lang=fr", headers={"X-API-Key": key})
            assert page.status_code == 200, path
            assert HTML_LANG.search(page.text).group(1) == "fr", path  # type: ignore[union-attr]
        missing = client.get("/ui/customers/NOPE?lang=fr", headers={"X-API-Key": key})
        assert HTML_LANG.search(missing.text).group(1) == "fr"  # type: ignore[union-attr]


def test_the_customer_page_names_fields_in_the_language(site: tuple[str, str]) -> None:
    url, key = site
    with httpx.Client(base_url=url, timeout=30) as client:
        french = client.get("/ui/customers/C1?lang=fr", headers={"X-API-Key": key}).text
        dutch = client.get("/ui/customers/C1?lang=nl", headers={"X-API-Key": key}).text
    assert "<dt>Consentement e-mail</dt>" in french
    assert "<dt>Canal d'acquisition</dt>" in french.replace("&#39;", "'")
    assert "<dt>Toestemming e-mail</dt>" in dutch
    assert "consent email" not in french
