"""A pilot's notes and recommendation in the reader's language (dashboard, CLI); --json keeps the codes."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from cvm.api import create_app
from cvm.engine import Engine
from cvm.experiments.report import build_report
from cvm.experiments.service import save_report
from tests.e2e.test_cli import cvm
from tests.serving import serve
from tests.unit.test_pilot_harm import SPEC, simulated

NOTE = (
    "True effect by construction on these customers: retention +2.15 points (+3.40%), revenue -1.20 per customer "
    "(-0.50%)."
)
REASON = re.compile(r'<p data-testid="pilot-reason">([^<]*)</p>')
NOTES = re.compile(r'data-testid="pilot-note">([^<]*)</p>')


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding one finished pilot: a winner on revenue that significantly lowers NPS."""
    root = tmp_path_factory.mktemp("pilot-lang")
    Engine.init(root / "ws").close()
    spec = replace(SPEC, notes=("SIMULATED: a test pilot.", NOTE))
    report = build_report(spec, simulated(15.0, -0.5, 11), status="finished")
    assert report["recommendation"]["decision"] == "roll out"
    save_report(root / "ws", report)
    return root / "ws"


@pytest.fixture(scope="module")
def site(workspace: Path) -> Iterator[tuple[str, str]]:
    engine = Engine.open(workspace)
    try:
        key = engine.access.create_key("analyst", "pilots")[1]
        with serve(create_app(engine)) as url:
            yield url, key
    finally:
        engine.close()


def _page(url: str, key: str, lang: str) -> str:
    response = httpx.get(f"{url}/ui/pilots?name=harm&lang={lang}", headers={"X-API-Key": key}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return re.sub("[\xa0\u202f]", " ", response.text)


@pytest.mark.parametrize(
    ("lang", "reason", "note"),
    [
        ("fr", r"treatment : chiffre d'affaires en hausse de \+[\d,]+ % "
               r"\(IC à 95 % de \+[\d,]+ % à \+[\d,]+ %, p < 0,001\) ; "
               r"marge incrémentale nette de −?[\d ]+ € après 0 € de coûts d'actions\.",
         "Effet réel par construction sur ces clients : rétention +2,15 points (+3,40 %), chiffre d'affaires "
         "−1,20 par client (−0,50 %)."),
        ("nl", r"treatment: omzet stijgt met \+[\d,]+% \(95%-BI \+[\d,]+% tot \+[\d,]+%, p < 0,001\); "
               r"netto incrementele marge € −?[\d.]+ na € 0 aan actiekosten\.",
         "Werkelijk effect per constructie op deze klanten: retentie +2,15 punten (+3,40%), omzet −1,20 per klant "
         "(−0,50%)."),
    ],
)  # fmt: skip
def test_the_pilot_page_says_the_reason_and_notes_in_its_language(
    site: tuple[str, str], lang: str, reason: str, note: str
) -> None:
    url, key = site
    text = _page(url, key, lang)
    (said,) = (html.unescape(r) for r in REASON.findall(text))
    assert re.fullmatch(reason, said), said
    assert note in {html.unescape(n) for n in NOTES.findall(text)}


def test_the_cli_report_speaks_lang_and_json_keeps_the_codes(workspace: Path) -> None:
    out = cvm("pilot", "report", "harm", "--lang", "fr", "-w", str(workspace)).stdout
    flat = " ".join(re.sub("[\xa0\u202f]", " ", out).split())
    assert "Recommandation : généraliser (treatment)" in flat, flat
    assert "Effet négatif significatif sur un indicateur secondaire : treatment : NPS en baisse de −" in flat
    assert "à peser avant de généraliser" in flat
    data = json.loads(cvm("pilot", "report", "harm", "--json", "-w", str(workspace)).stdout)
    rec = data["recommendation"]
    assert rec["code"] == "primary_gain_net"
    assert set(rec["values"]) == {"arm", "outcome", "lift", "ci_low", "ci_high", "p_value", "net", "cost"}
    assert rec["values"]["outcome"] == "revenue"
    assert rec["reason"].startswith("treatment raises revenue by +")  # the English reason, as before
    assert "Significant harm on a secondary outcome: treatment lowers nps by −" in rec["reason"].replace("-", "−")
