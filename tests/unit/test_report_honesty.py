"""Numbers that never mislead (issue 16): one rule for the complete period, partial / censored / small-sample
flags in the JSON, round secondary ticks, labelled heatmap cells and histogram tail, definitions from one source.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from cvm.engine import Engine
from cvm.reporting import KINDS
from cvm.reporting import figures as rf
from cvm.reporting.definitions import definition, definition_html, reports_markdown, to_html
from cvm.reporting.marks import round_axis
from cvm.reporting.periods import current_complete, final_day
from tests.conftest import write

ROOT = Path(__file__).resolve().parents[2]
SURVEYS = """customer_id,ts,nps,would_recommend,did_recommend
C1,2024-03-10T12:00:00Z,9,true,false
C2,2024-03-12T12:00:00Z,3,false,false
C3,2024-03-20T12:00:00Z,10,true,true
"""


def test_the_complete_period_rule() -> None:
    # data that stop on 15 March leave March partial, however late the report is read
    assert final_day(date(2024, 3, 15), today=date(2026, 12, 6)) == date(2024, 3, 15)
    # data up to today: today is not over, so neither is its period
    assert final_day(date(2026, 12, 6), today=date(2026, 12, 6)) == date(2026, 12, 5)
    assert final_day(None, today=date(2026, 12, 1)) == date(2026, 11, 30)
    rows = [{"period": "a", "partial": False}, {"period": "b", "partial": False}, {"period": "c", "partial": True}]
    assert current_complete(rows) == rows[1]
    assert current_complete([{"period": "c", "partial": True}]) is None


def test_growth_json_flags_the_partial_period(loaded: Engine) -> None:
    data = loaded.reports.report("growth", "M").to_dict()  # the data stop on 1 April 2024
    flags = {r["period"]: r["partial"] for r in data["tables"]["growth"]}
    assert flags == {"2024-02": False, "2024-03": False, "2024-04": True}
    assert all(r["partial"] == (r["period"] == "2024-04") for r in data["tables"]["hunting_farming"])
    assert data["summary"]["partial"] == ["2024-04"]
    assert data["summary"]["latest_complete"]["period"] == "2024-03"
    assert data["summary"]["complete_through"] == "2024-04-01"
    fig = rf.waterfall_figure(loaded.reports.report("growth", "M").tables["growth"])
    assert fig.layout.title.text == "Revenue bridge 2024-03"  # never the partial period as the headline


def test_small_samples_and_censored_churn_are_flagged(loaded: Engine, tmp_path: Path) -> None:
    assert loaded.ingest("surveys", write(tmp_path / "surveys.csv", SURVEYS)).ok
    voc = loaded.reports.report("voc", "M").to_dict()
    assert voc["parameters"]["min_sample"] == 30  # reporting.min_sample
    assert voc["tables"]["overall"][0]["small_sample"] is True
    assert [r["small_sample"] for r in voc["tables"]["voc"]] == [True]
    assert voc["summary"]["warnings"][0].startswith("NPS rests on 3 answers (fewer than 30)")
    enough = loaded.reports.report("voc", "M", min_sample=3).to_dict()
    assert enough["summary"]["warnings"] == []
    churn = loaded.reports.report("churn", "M").to_dict()
    assert churn["summary"]["censored_from"] == "2023-04-02"  # 365 days before the end of the data
    assert "Right-censored after 2023-04-02" in churn["summary"]["censoring"]
    assert all(r["censored"] for r in churn["tables"]["by_period"])


def test_secondary_axis_ticks_are_round() -> None:
    for values in ([-7.0, 6.7, 20.4, 34.1], [0.31, 2.9, 1.4], [812, 1590, 2044], [1e-3, 4e-3]):
        axis = round_axis(values)
        ticks = axis["tickvals"]
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5)), (values, ticks)
        assert all(math.isclose(t / step, round(t / step), abs_tol=1e-9) for t in ticks), ticks
        assert ticks[0] <= min(*values, 0)
        assert ticks[-1] >= max(values)
    quick = pl.DataFrame({"period": ["a", "b"], "grr": [0.9, 0.8], "nrr": [1.0, 1.1], "customer_churn_rate": [0.1, 0.2],
                          "quick_ratio": [6.7, 20.4]})  # fmt: skip
    assert rf.rates_figure(quick).layout.yaxis2.tickvals == (0, 5, 10, 15, 20, 25)


def test_heatmap_cells_and_histogram_tail_are_labelled() -> None:
    cohorts = pl.DataFrame({"cohort": ["2024-01", "2024-01", "2024-02"], "k": [0, 1, 0],
                            "revenue_retention": [1.0, 0.456, 1.0], "customer_retention": [1.0, 0.5, 1.0],
                            "revenue": [1.0, 1.0, 1.0], "customers": [1, 1, 1]})  # fmt: skip
    heat = rf.cohort_heatmap(cohorts).data[0]
    assert heat.texttemplate == "%{text}"
    assert list(heat.text[0][:2]) == ["100", "46"]
    hist = pl.DataFrame({"bin": [0, 1], "lower": [0.0, 5000.0], "upper": [5000.0, 10000.0], "customers": [90, 10],
                         "share": [0.9, 0.1], "tail": [False, True]})  # fmt: skip
    assert rf.histogram_figure(hist).data[0].text == ("", "≥ 5,000")


def test_definitions_come_from_one_source() -> None:
    assert (ROOT / "docs" / "reports.md").read_text(encoding="utf-8") == reports_markdown(), (
        "docs/reports.md is stale: run python -m cvm.reporting.definitions docs/reports.md"
    )
    for kind in KINDS:
        text, html = definition(kind), definition_html(kind)
        assert html.startswith("<h3>")
        assert "<strong>" in html
        for raw in ("**", ">>>", "``", ":func:", ":mod:"):
            assert raw not in html, (kind, raw)
        assert text in reports_markdown().replace("\n## ", "\n# ").replace("\n### ", "\n## ") or kind == "silent-churn"
    assert to_html("<script>alert(1)</script>") == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"


def test_report_definitions_are_the_markdown_source(loaded: Engine) -> None:
    for kind in ("growth", "churn", "scores"):
        assert loaded.reports.report(kind, "M").definitions == definition(kind)


@pytest.mark.parametrize("kind", ["nope"])
def test_unknown_definitions_are_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="no definitions for report 'nope'"):
        definition(kind)


def test_cli_tables_label_the_partial_period(loaded: Engine, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cvm.cli.main import app

    assert loaded.ingest("surveys", write(tmp_path / "surveys.csv", SURVEYS)).ok
    ws = str(loaded.workspace)
    growth = CliRunner().invoke(app, ["report", "growth", "-w", ws], env={"COLUMNS": "200"})
    assert growth.exit_code == 0, growth.output
    assert "2024-04 (partial)" in growth.output
    assert "2024-03 (partial)" not in growth.output
    assert "2024-04 is partial (data through 2024-04-01)" in growth.output
    voc = CliRunner().invoke(app, ["report", "voc", "-w", ws], env={"COLUMNS": "200"})
    assert "few answers" in voc.output
    assert "NPS rests on 3 answers" in voc.output


@pytest.mark.parametrize("lang", ["fr", "nl"])
def test_translated_definitions_have_the_english_structure(lang: str) -> None:
    from cvm.reporting.definitions import LANGUAGES, SOURCES

    assert lang in LANGUAGES
    for kind in SOURCES:
        en, other = definition(kind, "en"), definition(kind, f"{lang}-BE")
        assert other != en
        for mark in ("#", "- ", "  - "):
            count = sum(line.startswith(mark) for line in en.splitlines())
            assert sum(line.startswith(mark) for line in other.splitlines()) == count, (kind, lang, mark)
        assert "**" not in definition_html(kind, lang)
    words = {"fr": ("nouveaux", "expansion", "réactivation", "contraction", "perdus"),
             "nl": ("nieuw", "uitbreiding", "heractivering", "inkrimping", "verloren")}  # fmt: skip
    assert all(w in definition("growth", lang) for w in words[lang])
    assert definition("growth", "de") == definition("growth", "en")  # no German yet: English


def test_nps_by_segment_marks_segments_with_too_few_answers() -> None:
    from cvm.web.figures import nps_by_segment

    vip = {"segment": "VIP", "nps": 33.3, "pct_would_recommend": 66.7, "small_sample": True, "responses": 3}
    b2c = {"segment": "B2C", "nps": -4.0, "pct_would_recommend": 51.0, "small_sample": False, "responses": 412}
    rows = [vip, b2c]
    bars = nps_by_segment(rows).data[0]
    assert list(bars.text) == ["+33 (n=3)", "-4"]
    assert list(bars.marker.opacity) == [0.4, 1.0]
