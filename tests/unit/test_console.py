"""The CLI console: JSON without NaN, tables within 80 columns, ids printed as written, CSV for spreadsheets."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rich.console import Console as RichConsole

from cvm.cli.console import Console


def _refuse(name: str) -> object:
    raise ValueError(f"not JSON: {name}")


def _console(width: int = 80) -> tuple[Console, io.StringIO]:
    console, buffer = Console(), io.StringIO()
    console.out = RichConsole(file=buffer, width=width, highlight=False)
    return console, buffer


def test_json_writes_nan_and_infinity_as_null(capsys: pytest.CaptureFixture[str]) -> None:
    Console().json({"se": {"r": float("nan"), "a": float("inf")}, "rows": [1.5, float("-inf")], "ok": (True,)})
    parsed = json.loads(capsys.readouterr().out, parse_constant=_refuse)
    assert parsed == {"se": {"r": None, "a": None}, "rows": [1.5, None], "ok": [True]}


def test_tables_fit_80_columns_wrap_text_and_never_numbers() -> None:
    console, buffer = _console()
    text = "a long reason that says in many words why this row of the export was refused by the hub " * 2
    console.table("Quarantine", ["batch", "line", "reason", "revenue"], [["b-1", 1600, text, 1234567.891]])
    lines = buffer.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    body = buffer.getvalue()
    assert "1,234,567.89" in body  # a number stays on one line, with its separators
    assert "│ 1600 " in body  # an id is printed as written, not as 1,600
    assert "1,600" not in body
    assert sum("refused" in line for line in lines) == 2  # the text wrapped (two copies, both shown)


def test_csv_mode_writes_plain_values_and_escapes_formulas(capsys: pytest.CaptureFixture[str]) -> None:
    console = Console()
    console.csv = True
    console.table("People", ["customer_id", "name", "amount"], [["C1", "=HYPERLINK(1)", 1234.5], ["C2", None, None]])
    console.table("Second", ["a"], [[1]])
    out = capsys.readouterr().out
    first, second = out.split("\n\n")
    assert list(csv.reader(io.StringIO(first))) == [
        ["customer_id", "name", "amount"],
        ["C1", "'=HYPERLINK(1)", "1234.5"],
        ["C2", "", ""],
    ]
    assert list(csv.reader(io.StringIO(second))) == [["a"], ["1"]]


def test_a_table_too_wide_for_80_columns_is_split_repeating_its_first_column() -> None:
    console, buffer = _console()
    columns = ["period"] + [f"measure {i}" for i in range(12)]
    console.table("Growth", columns, [["2024-01", *(f"{1000 * i + 0.5:,.2f}" for i in range(12))]])
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.count("2024-01") >= 2  # the first column is repeated in each part
    for i in range(12):
        assert f"{1000 * i + 0.5:,.2f}" in text  # every number whole, on one line
