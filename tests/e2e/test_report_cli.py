"""`cvm report` as a user runs it: JSON equal to the Python reports, helpful help, one HTML file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cvm.cli.main import app
from cvm.contracts import DATA_TABLES
from cvm.demo import generate
from cvm.engine import Engine
from cvm.reporting import ReportFilter, add_rates, growth_accounting
from cvm.reporting.reports import records

END = date(2024, 6, 30)


def cvm(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "cvm.cli.main", *args], capture_output=True, text=True, timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-cli")
    generate(400, seed=5, out=root / "data", end=END)
    engine = Engine.init(root / "ws")
    for table in DATA_TABLES:
        assert engine.ingest(table, sorted((root / "data").glob(f"{table}.*")), actor="test").ok
    engine.close()
    return root / "ws"


def report(ws: Path, kind: str, period: str = "M", filters: ReportFilter | None = None, **options: Any) -> Any:
    engine = Engine.open(ws)
    try:
        return engine.reports.report(kind, period, filters, **options).to_dict()
    finally:
        engine.close()


CASES = [
    (["growth", "--period", "quarter"], "growth", "Q", None, {}),
    (["growth", "--source", "mrr", "--kind", "B2B", "--reactivation-window", "90d", "--nrr-with-reactivation"],
     "growth", "M", ReportFilter(kind="B2B"),
     {"source": "mrr", "reactivation_window": timedelta(days=90), "include_reactivation": True}),
    (["voc", "--period", "year", "--by", "channel"], "voc", "Y", None, {"by": "channel"}),
    (["cohorts", "--period", "quarter", "--channel", "direct"], "cohorts", "Q", ReportFilter(channel="direct"), {}),
    (["migration", "--from", "2024-01-31", "--to", "2024-06-30"], "migration", "M", None,
     {"date_from": date(2024, 1, 31), "date_to": date(2024, 6, 30)}),
    (["churn", "--top", "3", "--kind", "B2C"], "churn", "M", ReportFilter(kind="B2C"), {"top": 3}),
    (["silent-churn", "--lookback-days", "90", "--period", "Q"], "silent-churn", "Q", None, {"lookback_days": 90}),
]  # fmt: skip


@pytest.mark.parametrize(("args", "kind", "period", "filters", "options"), CASES, ids=[c[0][0] for c in CASES])
def test_json_equals_the_python_report(
    ws: Path, args: list[str], kind: str, period: str, filters: ReportFilter | None, options: dict[str, Any]
) -> None:
    out = json.loads(cvm("report", *args, "-w", str(ws), "--json").stdout)
    assert out == report(ws, kind, period, filters, **options)
    assert out["tables"]
    assert out["definitions"]


def test_growth_json_equals_growth_accounting_on_the_raw_table(ws: Path) -> None:
    out = json.loads(cvm("report", "growth", "-w", str(ws), "--json").stdout)
    engine = Engine.open(ws)
    tx = engine.offline.read("transactions")
    engine.close()
    expected = records(add_rates(growth_accounting(tx, "M")))
    assert [{k: r[k] for k in expected[0]} for r in out["tables"]["growth"]] == expected
    for row in out["tables"]["growth"]:
        bridge = (
            row["start"] + row["new"] + row["expansion"] + row["reactivation"] - row["contraction"] - row["churned"]
        )
        assert round(bridge, 2) == row["end"]


def test_tables_for_people_and_errors(ws: Path) -> None:
    text = cvm("report", "growth", "-w", str(ws), "--period", "year").stdout
    assert "GRR" in text
    assert "2024" in text
    assert "k0" in cvm("report", "cohorts", "-w", str(ws)).stdout
    bad = cvm("report", "growth", "-w", str(ws), "--period", "week", ok=False)
    assert bad.returncode == 2
    assert "unknown period" in bad.stderr
    bad = cvm("report", "growth", "-w", str(ws), "--segment", "high", ok=False)
    assert bad.returncode == 2
    assert "SCORE:GRADE" in bad.stderr


def test_help_of_every_command() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["report", "--help"], env={"COLUMNS": "200"})
    assert top.exit_code == 0
    for name in ("growth", "voc", "cohorts", "migration", "churn", "silent-churn", "scores", "html"):
        assert name in top.output
        assert "--json" in runner.invoke(app, ["report", name, "--help"], env={"COLUMNS": "200"}).output
    growth = runner.invoke(app, ["report", "growth", "--help"], env={"COLUMNS": "200"}).output
    assert "--source" in growth
    assert "--kind" in growth
    assert "--reactivation-window" in growth


def test_html_file_is_self_contained(ws: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    info = json.loads(cvm("report", "html", "-w", str(ws), "--out", str(out), "--json").stdout)
    assert info["out"] == str(out)
    text = out.read_text(encoding="utf-8")
    assert info["bytes"] == out.stat().st_size > 1_000_000  # Plotly's JavaScript is inside
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?https?:", text, flags=re.IGNORECASE)
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, flags=re.IGNORECASE)
    assert "Revenue bridge" in text
