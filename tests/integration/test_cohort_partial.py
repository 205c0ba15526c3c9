"""The in-progress cohort and cells of the cohort heatmap are marked (JSON, report figure, dashboard)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from cvm.api import create_app
from cvm.engine import Engine
from cvm.i18n import Lang, use_locale
from cvm.reporting import figures as rf
from tests.conftest import CUSTOMERS_CSV, write
from tests.serving import serve

# The data stop on 3 April 2024: April is partial; C3's first purchase makes 2024-04 a cohort still forming.
TRANSACTIONS = """transaction_id,customer_id,ts,amount,margin,product
T1,C1,2024-02-01T10:00:00Z,100.00,30.00,hardware
T2,C1,2024-03-01T10:00:00Z,50.50,15.00,supplies
T3,C2,2024-03-05T09:30:00Z,1200,300,services
T4,C2,2024-04-02T09:30:00Z,100,30,services
T5,C3,2024-04-03T10:00:00Z,80,20,hardware
"""
SPEC = re.compile(r'<script type="application/json" id="chart-cohorts-spec">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("cohorts-partial")
    engine = Engine.init(root / "ws")
    try:
        assert engine.ingest("customers", write(root / "c.csv", CUSTOMERS_CSV)).ok
        assert engine.ingest("transactions", write(root / "t.csv", TRANSACTIONS)).ok
        yield engine
    finally:
        engine.close()


def _marked(figure: dict) -> tuple[dict[str, list[str]], list[dict], list[str]]:  # type: ignore[type-arg]
    heat = figure["data"][0]
    texts = {cohort: row for cohort, row in zip(heat["y"], heat["text"], strict=True)}
    layout = figure["layout"]
    return texts, layout.get("shapes", []), [a["text"] for a in layout.get("annotations", [])]


def test_the_json_flags_partial_cells_and_the_forming_cohort(workspace: Engine) -> None:
    data = workspace.reports.report("cohorts", "M").to_dict()
    flags = {(r["cohort"], r["period"]): r["partial"] for r in data["tables"]["cohorts"]}
    assert flags == {
        ("2024-02", "2024-02"): False, ("2024-02", "2024-03"): False, ("2024-02", "2024-04"): True,
        ("2024-03", "2024-03"): False, ("2024-03", "2024-04"): True, ("2024-04", "2024-04"): True,
    }  # fmt: skip
    assert data["summary"]["partial"] == ["2024-04"]


def test_the_report_heatmap_marks_them_in_french(workspace: Engine) -> None:
    table = workspace.reports.report("cohorts", "M").tables["cohorts"]
    with use_locale(Lang("fr")):
        fig = json.loads(rf.cohort_heatmap(table).to_json())
    texts, shapes, notes = _marked(fig)
    assert texts["2024-02"] == ["100", "50", "0*"]  # C1 bought nothing in April (yet)
    assert texts["2024-03"][:2] == ["100", "8*"]
    assert texts["2024-04"][0] == "100*"
    assert [(s["y0"], s["y1"]) for s in shapes] == [(1.5, 2.5)]  # the 2024-04 row, the third
    assert "partiel" in notes
    assert "partiel" in fig["layout"]["xaxis"]["title"]["text"]


def test_the_dashboard_heatmap_marks_them(workspace: Engine) -> None:
    key = workspace.access.create_key("analyst", "cohorts")[1]
    with serve(create_app(workspace)) as url:
        response = httpx.get(f"{url}/ui/growth?lang=nl", headers={"X-API-Key": key}, timeout=60)
    assert response.status_code == 200, response.text[:300]
    found = SPEC.search(response.text)
    assert found
    texts, shapes, notes = _marked(json.loads(found.group(1)))
    assert texts["2024-04"][0] == "100*"
    assert len(shapes) == 1
    assert "onvolledig" in notes
