"""`cvm schema`, `cvm ingest --schema` and docs/tables.md say the same thing as the table contracts."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cvm.cli.main import app
from cvm.contracts import DATA_TABLES, describe

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tables.md"


def test_docs_tables_md_is_the_generated_text() -> None:
    """Regenerate with: cvm schema --markdown > docs/tables.md"""
    assert DOCS.read_text(encoding="utf-8") == describe.markdown()
    result = CliRunner().invoke(app, ["schema", "--markdown"])
    assert result.exit_code == 0
    assert result.stdout == DOCS.read_text(encoding="utf-8")


def test_schema_json_lists_every_column_with_its_rules() -> None:
    result = CliRunner().invoke(app, ["schema", "--json"])
    assert result.exit_code == 0, result.output
    tables = {t["table"]: t for t in json.loads(result.stdout)}
    assert list(tables) == list(DATA_TABLES)
    for name, schema in DATA_TABLES.items():
        assert [c["name"] for c in tables[name]["columns"]] == list(schema.column_names)
    payments = {c["name"]: c for c in tables["payments"]["columns"]}
    assert (payments["due_date"]["future_allowed"], payments["paid_date"]["future_allowed"]) == (True, False)
    assert payments["amount"]["future_allowed"] is None
    assert (payments["amount"]["min"], payments["amount"]["required"]) == (0.0, True)
    kind = next(c for c in tables["customers"]["columns"] if c["name"] == "kind")
    assert kind["allowed_values"] == ["B2B", "B2C"]


def test_ingest_schema_prints_one_table_without_a_workspace(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", "--schema", "subscriptions", "--json", "-w", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (table,) = json.loads(result.stdout)
    end = next(c for c in table["columns"] if c["name"] == "end")
    start = next(c for c in table["columns"] if c["name"] == "start")
    assert (end["future_allowed"], start["future_allowed"]) == (True, False)
    text = CliRunner().invoke(app, ["schema", "subscriptions"], env={"COLUMNS": "100"}).stdout
    assert "future dates" in text
    assert "end_reason" in text
    assert "payment_failed" in text


def test_schema_of_an_unknown_table_is_one_line() -> None:
    result = CliRunner().invoke(app, ["schema", "custmers"])
    assert result.exit_code == 2
    assert "unknown table 'custmers'; tables: customers," in result.stderr
