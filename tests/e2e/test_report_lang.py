"""`cvm report ... --lang`: the HTML report and the report tables in Dutch and French; --json keeps the codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_report_cli import cvm, ws

__all__ = ["ws"]  # the module's demo workspace fixture, shared with test_report_cli
pytestmark = pytest.mark.slow

FR_AMOUNT = re.compile(r"\d{1,3}(?:\u202f\d{3})+,\d{2}")  # 12 345,67
NL_AMOUNT = re.compile(r"\d{1,3}(?:\.\d{3})+,\d{2}")  # 12.345,67


def test_html_report_in_dutch(ws: Path, tmp_path: Path) -> None:
    out = tmp_path / "rapport.html"
    info = json.loads(cvm("report", "html", "-w", str(ws), "--out", str(out), "--lang", "nl", "--json").stdout)
    assert info["lang"] == "nl"
    text = out.read_text(encoding="utf-8")
    assert text.startswith('<!DOCTYPE html><html lang="nl">')
    for dutch in (
        "CVM-rapport",
        "Groeiboekhouding",
        "Stem van de klant",
        "Opzegredenen",
        "actieve klanten",
        "Definities",
    ):
        assert dutch in text, dutch
    assert "<h2>Groeiboekhouding</h2>" in text
    assert "<h2>Growth accounting</h2>" not in text  # (the definitions, from the docstrings, are in English)
    assert re.search(r"<b>€\xa0\d{1,3}(?:\.\d{3})*,\d{2}</b>omzet \d{4}-\d{2}", text)  # the headline revenue


def test_html_report_follows_the_configuration_without_lang(ws: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    cvm("report", "html", "-w", str(ws), "--out", str(out))
    text = out.read_text(encoding="utf-8")
    assert text.startswith('<!DOCTYPE html><html lang="en">')
    assert "Growth accounting" in text


def test_report_tables_in_french_and_dutch(ws: Path) -> None:
    french = cvm("report", "growth", "-w", str(ws), "--period", "year", "--lang", "fr-BE").stdout
    assert "Comptabilité de la croissance (année)\u00a0: pont du chiffre d'affaires" in french  # no-break space
    assert "perdus" in french
    assert FR_AMOUNT.search(french)
    churn = cvm("report", "churn", "-w", str(ws), "--lang", "nl").stdout
    assert "Opzegredenen" in churn
    assert "te duur" in churn or "niet gebruikt" in churn
    assert "too_expensive" not in churn
    for code in ("reason_type", "mrr_lost", "period_start", "rank"):  # column headings too
        assert code not in churn, code
    assert NL_AMOUNT.search(cvm("report", "growth", "-w", str(ws), "--lang", "nl").stdout)


def test_json_keeps_the_codes_whatever_the_language(ws: Path) -> None:
    plain = json.loads(cvm("report", "churn", "-w", str(ws), "--json").stdout)
    dutch = json.loads(cvm("report", "churn", "-w", str(ws), "--json", "--lang", "nl").stdout)
    assert dutch == plain
    assert any(r["reason"] in ("too_expensive", "unused") for r in plain["tables"]["reasons"])


def test_an_unknown_language_is_refused_by_name(ws: Path) -> None:
    bad = cvm("report", "growth", "-w", str(ws), "--lang", "de", ok=False)
    assert bad.returncode == 2
    assert "--lang" in bad.stderr
    assert "fr, nl" in bad.stderr.replace("en, fr, nl", "fr, nl")


def test_cvm_run_prints_in_the_configured_language(ws: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "CVM__REPORTING__LOCALE": "fr_BE"}
    proc = subprocess.run(
        [sys.executable, "-m", "cvm.cli.main", "run", "-w", str(ws)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Base clients" in proc.stdout
    assert "actifs (12 m)" in proc.stdout
    assert re.search(r"\d{1,3}(?:\u202f\d{3})+\xa0€", proc.stdout)  # revenue 12 m, French format


def test_customer_view_in_french(ws: Path) -> None:
    engine_rows = json.loads(cvm("customer", "list", "-w", str(ws), "--json", "--limit", "1").stdout)["data"]
    cid = engine_rows[0]["customer_id"]
    text = cvm("customer", "show", cid, "-w", str(ws), "--lang", "fr").stdout
    for french in ("Client " + cid, "Identifiant client", "Chiffres clés", "Historique"):
        assert french in text, french
    plain = json.loads(cvm("customer", "show", cid, "-w", str(ws), "--json").stdout)
    assert (
        json.loads(cvm("customer", "show", cid, "-w", str(ws), "--json", "--lang", "nl").stdout)["kpis"]
        == plain["kpis"]
    )
