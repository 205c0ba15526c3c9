"""Ingestion batches: validation, quarantine, idempotency, keys and refusal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from cvm.engine import Engine
from cvm.ingest.readers import ReadOptions, SourceError
from tests.conftest import TRANSACTIONS_CSV, write

BAD_TRANSACTIONS = """transaction_id,customer_id,ts,amount,margin,product
T10,C1,2024-05-01,10,2,hardware
T11,C9,2024-05-02,10,2,hardware
T12,C1,not-a-date,10,2,hardware
T13,C1,2024-05-04,ten,2,hardware
T10,C2,2024-05-05,10,2,hardware
,C1,2024-05-06,10,2,hardware
T16,C2,2099-01-01,10,2,hardware
T17,C3,2024-05-08,10,2,supplies
"""


def _manifest(engine: Engine) -> dict[str, object]:
    return json.loads((engine.offline.root / "_manifest.json").read_text())


def test_bad_rows_get_exact_counts_and_one_reason_each(loaded: Engine, tmp_path: Path) -> None:
    result = loaded.ingest("transactions", write(tmp_path / "bad.csv", BAD_TRANSACTIONS), max_reject_ratio=1.0)
    assert (result.read, result.accepted, result.rejected) == (8, 2, 6)
    assert result.accepted + result.rejected == result.read
    q = loaded.offline.read("quarantine").filter(pl.col("batch_id") == result.batch_id).sort("line")
    got = [(r["line"], r["field"], r["value"], r["reason"]) for r in q.iter_rows(named=True)]
    assert got == [
        (3, "customer_id", "C9", "unknown customer (load customers first)"),
        (4, "ts", "not-a-date", "not a valid timestamp"),
        (5, "amount", "ten", "not a valid float"),
        (6, "transaction_id", "T10", "duplicate key in this batch (first at line 2)"),
        (7, "transaction_id", None, "required field is empty"),
        (8, "ts", "2099-01-01", got[5][3]),
    ]
    assert got[5][3].startswith("in the future")
    assert set(q["source"]) == {str(tmp_path / "bad.csv")}
    stored = loaded.offline.read("transactions")
    assert sorted(stored["transaction_id"]) == ["T1", "T10", "T17", "T2", "T3", "T4"]


def test_reingesting_the_same_content_changes_nothing(loaded: Engine, tmp_path: Path) -> None:
    before = _manifest(loaded)
    again = loaded.ingest("transactions", write(tmp_path / "copy.csv", TRANSACTIONS_CSV))
    assert again.status == "unchanged"
    assert again.batch_id in before["batches"]  # type: ignore[operator]
    assert (again.read, again.accepted, again.rejected) == (4, 4, 0)
    assert _manifest(loaded) == before
    assert loaded.offline.count("transactions") == 4


def test_refused_batch_stores_nothing(loaded: Engine, tmp_path: Path) -> None:
    before = _manifest(loaded)
    files_before = sorted(p.name for p in loaded.offline.root.rglob("*.parquet"))
    result = loaded.ingest("transactions", write(tmp_path / "bad.csv", BAD_TRANSACTIONS))
    assert result.status == "refused"
    assert (result.read, result.accepted, result.rejected) == (8, 2, 6)
    assert result.rejects is not None
    assert result.rejects.height == 6
    after = _manifest(loaded)
    # Issue 15: the refused cells are kept in the quarantine (status refused); nothing else is stored.
    assert after["batches"] == before["batches"]
    assert {k: v for k, v in after["tables"].items() if k != "quarantine"} == {  # type: ignore[attr-defined]
        k: v
        for k, v in before["tables"].items()  # type: ignore[attr-defined]
        if k != "quarantine"
    }
    new_files = sorted(p.name for p in loaded.offline.root.rglob("*.parquet") if p.name not in files_before)
    assert [p.parent.name for p in loaded.offline.root.rglob("*.parquet") if p.name in new_files] == ["quarantine"]
    refused = loaded.offline.read("quarantine").filter(pl.col("batch_id") == result.batch_id)
    assert refused.height == 6
    assert set(refused["status"]) == {"refused"}
    again = loaded.ingest("transactions", tmp_path / "bad.csv")
    assert again.status == "refused"
    assert _manifest(loaded) == after  # refused again: its cells are not stored twice


def test_natural_keys_never_duplicate_across_batches(loaded: Engine, tmp_path: Path) -> None:
    changed = "transaction_id,customer_id,ts,amount,margin,product\nT1,C1,2024-02-01T10:00:00Z,999,1,hardware\n"
    result = loaded.ingest("transactions", write(tmp_path / "t1.csv", changed), max_reject_ratio=1.0)
    assert (result.accepted, result.rejected) == (0, 1)
    assert result.rejects is not None
    assert "already stored" in result.rejects["reason"][0]
    tx = loaded.offline.read("transactions")
    assert tx.filter(pl.col("transaction_id") == "T1")["amount"].to_list() == [100.0]

    upserted = loaded.ingest("transactions", tmp_path / "t1.csv", upsert=True)
    assert (upserted.status, upserted.accepted) == ("committed", 1)
    tx = loaded.offline.read("transactions")
    assert tx.height == 4
    assert tx.filter(pl.col("transaction_id") == "T1")["amount"].to_list() == [999.0]


def test_future_dates_within_the_tolerance_are_accepted(loaded: Engine, tmp_path: Path) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    late = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"transaction_id,customer_id,ts,amount\nF1,C1,{soon},1\nF2,C1,{late},1\n"
    result = loaded.ingest("transactions", write(tmp_path / "f.csv", text), max_reject_ratio=1.0)
    assert (result.accepted, result.rejected) == (1, 1)


def test_missing_required_column_names_file_and_column(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "customer_id,name\nC1,Ann\n")
    with pytest.raises(SourceError, match=r"c\.csv.*acquired_at") as err:
        engine.ingest("customers", path)
    assert "kind" in str(err.value)


def test_european_export(engine: Engine, tmp_path: Path) -> None:
    text = (
        "Customer ID;Name;E-mail;Acquired At;Kind;Region;Channel\n"
        "K1;Zoë Brontë;zoe@example.com;03/02/2024;B2C;Noord;direct\n"
        "K2;Jürgen Groß;jurgen@example.com;28/11/2023;B2B;Zuid;distribution\n"
    )
    path = write(tmp_path / "export.csv", text, encoding="latin-1")
    assert engine.ingest("customers", path).accepted == 2
    pay = "invoice_id;customer_id;due_date;paid_date;amount\nF1;K1;15/03/2024;20/03/2024;1.234,56\n"
    assert engine.ingest("payments", write(tmp_path / "pay.csv", pay, encoding="utf-8-sig")).accepted == 1
    customers = engine.offline.read("customers").sort("customer_id")
    assert customers["name"].to_list() == ["Zoë Brontë", "Jürgen Groß"]
    assert customers["acquired_at"].to_list() == [datetime(2024, 2, 3).date(), datetime(2023, 11, 28).date()]
    assert engine.offline.read("payments")["amount"].to_list() == [1234.56]


def test_overrides_beat_detection(engine: Engine, tmp_path: Path) -> None:
    text = "customer_id,acquired_at,kind\nC1,02/03/2024,B2B\n"
    path = write(tmp_path / "us.csv", text)
    engine.ingest("customers", path, options=ReadOptions(date_format="%m/%d/%Y"))
    assert engine.offline.read("customers")["acquired_at"].to_list() == [datetime(2024, 2, 3).date()]


def test_ingest_a_dataframe(engine: Engine) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["D1", "D2"],
            "acquired_at": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "kind": ["B2B", "B2C"],
        }
    )
    first = engine.ingest("customers", frame)
    assert (first.status, first.accepted) == ("committed", 2)
    assert engine.ingest("customers", frame).status == "unchanged"


def test_ingest_from_sql(engine: Engine, tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "crm.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE klant (id TEXT, since TEXT, soort TEXT)")
    con.executemany("INSERT INTO klant VALUES (?, ?, ?)", [("S1", "2024-01-01", "B2B"), ("S2", "2024-01-09", "B2C")])
    con.commit()
    con.close()
    query = "SELECT id AS customer_id, since AS acquired_at, soort AS kind FROM klant"
    result = engine.ingest.ingest_sql("customers", f"sqlite:///{db}", query)
    assert (result.accepted, result.rejected) == (2, 0)
    assert result.sources[0].startswith("sql:")


def test_audit_records_every_write(loaded: Engine) -> None:
    actions = [(e["action"], e["target"], e["rows"]) for e in loaded.access.audit_entries()]
    assert ("ingest.committed", "customers", 3) in actions
    assert ("ingest.committed", "transactions", 4) in actions


def test_one_row_that_waited_for_its_customer_loads_when_the_same_file_comes_again(
    loaded: Engine, tmp_path: Path
) -> None:
    text = "transaction_id,customer_id,ts,amount\nT20,C1,2024-05-01,10\nT21,C4,2024-05-02,11\n"
    first = loaded.ingest("transactions", write(tmp_path / "t.csv", text), max_reject_ratio=1.0)
    assert (first.accepted, first.rejected) == (1, 1)
    loaded.ingest("customers", write(tmp_path / "c4.csv", "customer_id,kind,acquired_at\nC4,B2C,2024-04-01\n"))
    again = loaded.ingest("transactions", tmp_path / "t.csv")
    assert (again.status, again.read, again.accepted, again.rejected) == ("retried", 1, 1, 0)
    assert again.message == "unchanged; 1 row rejected earlier now loads: its customer exists"
    stored = loaded.offline.read("transactions").filter(pl.col("transaction_id").is_in(["T20", "T21"]))
    assert sorted(stored["transaction_id"]) == ["T20", "T21"]
