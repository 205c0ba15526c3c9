"""Issue 15, items 3-4 at the engine: quarantine statuses, retries of rejected rows, refusals with reasons."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from cvm.engine import Engine
from tests.conftest import write

CUSTOMERS = "customer_id,name,acquired_at,kind\nC1,Ann,2024-01-05,B2C\nC2,Bob,2024-02-10,B2B\n"
PAYMENTS = """invoice_id,customer_id,due_date,amount
P1,C1,2024-06-01,100
P2,C3,2024-06-01,50
P3,C3,2024-06-02,75
P4,C9,2024-06-05,20
P5,C2,2024-06-05,-5
"""
ALL_REJECTED = [(line, "rejected", None) for line in (3, 4, 5, 6)]


def _status(engine: Engine, table: str) -> list[tuple[int, str, str | None]]:
    q = engine.ingest.quarantine(table).sort("line")
    return [(r["line"], r["status"], r["resolved_by"]) for r in q.iter_rows(named=True)]


def test_same_content_again_loads_the_rows_whose_customer_now_exists(any_engine: Engine, tmp_path: Path) -> None:
    eng = any_engine
    eng.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS))
    first = eng.ingest("payments", write(tmp_path / "p.csv", PAYMENTS), max_reject_ratio=1.0)
    assert (first.status, first.read, first.accepted, first.rejected) == ("committed", 5, 1, 4)
    assert _status(eng, "payments") == ALL_REJECTED

    eng.ingest("customers", write(tmp_path / "c3.csv", "customer_id,name,acquired_at,kind\nC3,Cas,2024-03-15,B2B\n"))
    again = eng.ingest("payments", write(tmp_path / "p_again.csv", PAYMENTS))  # same bytes, another path
    assert (again.status, again.read, again.accepted, again.rejected) == ("retried", 4, 2, 2)
    assert again.accepted + again.rejected == again.read
    assert again.retry_of == first.batch_id
    assert again.message == (
        f"unchanged; 2 rows rejected earlier now load: their customers exist; 2 still rejected "
        f"(`cvm quarantine --batch {first.batch_id}`)"
    )
    assert _status(eng, "payments") == [
        (3, "resolved", again.batch_id),
        (4, "resolved", again.batch_id),
        (5, "rejected", None),
        (6, "rejected", None),
    ]
    assert sorted(eng.offline.read("payments")["invoice_id"]) == ["P1", "P2", "P3"]
    manifest = json.loads((eng.offline.root / "_manifest.json").read_text())
    assert manifest["batches"][again.batch_id]["retry_of"] == first.batch_id
    entry = next(e for e in eng.access.audit_entries(5) if e["action"] == "ingest.retried")
    assert (entry["target"], entry["rows"], entry["detail"]["batch_id"]) == ("payments", 2, again.batch_id)

    third = eng.ingest("payments", tmp_path / "p.csv")  # nothing fixable left: unchanged, nothing written
    assert third.status == "unchanged"
    assert third.message == f"unchanged; 2 still rejected (`cvm quarantine --batch {first.batch_id}`)"
    assert json.loads((eng.offline.root / "_manifest.json").read_text()) == manifest
    assert sorted(eng.offline.read("payments")["invoice_id"]) == ["P1", "P2", "P3"]


def test_a_corrected_file_resolves_the_entries_of_the_rows_it_loads(any_engine: Engine, tmp_path: Path) -> None:
    eng = any_engine
    eng.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS))
    bad = "invoice_id,customer_id,due_date,amount\nP1,C1,2024-06-01,100\nP2,C2,2024-06-01,ten\n"
    eng.ingest("payments", write(tmp_path / "p.csv", bad), max_reject_ratio=1.0)
    assert _status(eng, "payments") == [(3, "rejected", None)]
    fixed = eng.ingest(
        "payments", write(tmp_path / "p2.csv", "invoice_id,customer_id,due_date,amount\nP2,C2,2024-06-01,10\n")
    )
    assert fixed.status == "committed"
    assert _status(eng, "payments") == [(3, "resolved", fixed.batch_id)]


def test_a_refused_file_keeps_its_cells_until_it_loads(any_engine: Engine, tmp_path: Path) -> None:
    eng = any_engine
    eng.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS))
    refused = eng.ingest("payments", write(tmp_path / "p.csv", PAYMENTS))
    assert refused.status == "refused"
    assert refused.reason == "80.0% of rows rejected, above the limit of 5.0%"
    cells = eng.ingest.quarantine(status="refused")
    assert sorted(zip(cells["line"], cells["field"], strict=True)) == [
        (3, "customer_id"),
        (4, "customer_id"),
        (5, "customer_id"),
        (6, "amount"),
    ]
    assert set(cells["batch_id"]) == {refused.batch_id}
    assert eng.offline.count("payments") == 0

    loose = eng.ingest("payments", tmp_path / "p.csv", max_reject_ratio=1.0)  # same content, now committed
    assert (loose.batch_id, loose.status) == (refused.batch_id, "committed")
    assert _status(eng, "payments") == ALL_REJECTED
    assert eng.ingest.quarantine(status="refused").is_empty()


def test_entries_stored_before_statuses_read_as_rejected(engine: Engine) -> None:
    """A quarantine part written by an older version (no status columns) still reads, next to new parts."""
    old = pa.table(
        {
            "batch_id": ["b_old"],
            "table": ["payments"],
            "source": ["old.csv"],
            "line": pa.array([2], pa.int64()),
            "field": ["amount"],
            "value": ["x"],
            "reason": ["not a valid float"],
            "customer_id": pa.array([None], pa.string()),
            "ingested_at": pa.array([0], pa.timestamp("us", tz="UTC")),
        }
    )
    with engine.offline.transaction() as tx:
        rel = "quarantine/part-old.parquet"
        pq.write_table(old, engine.offline.root / rel)
        tx.written.append(engine.offline.root / rel)
        tx.manifest["tables"]["quarantine"].append(rel)
    assert engine.ingest.quarantine()["status"].to_list() == ["rejected"]
    engine.ingest("customers", write(engine.workspace / "c.csv", CUSTOMERS))
    bad = "invoice_id,customer_id,due_date,amount\nP1,C1,2024-06-01,100\nP2,C2,2024-06-01,ten\n"
    engine.ingest("payments", write(engine.workspace / "p.csv", bad), max_reject_ratio=1.0)
    both = engine.ingest.quarantine()
    assert both.filter(pl.col("batch_id") == "b_old")["status"].to_list() == ["rejected"]
    assert both["status"].to_list() == ["rejected", "rejected"]
    con = engine.offline.connect()
    assert con.execute("SELECT count(*), count(status) FROM quarantine").fetchone() == (2, 1)
    assert engine.offline.read("quarantine").filter(pl.col("status").is_null()).height == 1


def test_an_unreadable_inbox_file_is_refused_with_its_reason_and_the_run_goes_on(engine: Engine) -> None:
    inbox = engine.workspace / "inbox"
    write(inbox / "customers" / "c.csv", CUSTOMERS)
    write(inbox / "payments" / "p.csv", "invoice,who\nP1,C1\n")
    report = engine.run()
    assert not report.ok
    got = {b.table: b for b in report.batches}
    assert got["customers"].status == "committed"
    assert got["payments"].status == "refused"
    assert got["payments"].reason.startswith(
        "table 'payments' needs column(s) invoice_id, customer_id, due_date, amount"
    )
    assert report.to_dict()["batches"][1]["reason"] == got["payments"].reason
    assert (inbox / "payments" / "p.csv").exists()


def test_run_retries_archived_rows_once_their_customers_arrive(any_engine: Engine) -> None:
    """No re-sending needed: the run that loads the missing customers retries the archived payments file."""
    eng = any_engine
    config = yaml.safe_load((eng.workspace / "cvm.yaml").read_text())
    config["ingest"]["max_reject_ratio"] = 1.0
    (eng.workspace / "cvm.yaml").write_text(yaml.safe_dump(config))
    eng.ws.reload()
    inbox = eng.workspace / "inbox"
    write(inbox / "customers" / "c.csv", CUSTOMERS)
    write(inbox / "payments" / "p.csv", PAYMENTS)
    first = {b.table: b for b in eng.run().batches}
    assert (first["payments"].accepted, first["payments"].rejected) == (1, 4)

    write(inbox / "customers" / "c3.csv", "customer_id,name,acquired_at,kind\nC3,Cas,2024-03-15,B2B\n")
    report = eng.run()
    assert [(b.table, b.status) for b in report.batches] == [("customers", "committed"), ("payments", "retried")]
    retried = report.batches[1]
    assert (retried.read, retried.accepted, retried.rejected) == (4, 2, 2)
    assert retried.retry_of == first["payments"].batch_id
    assert retried.sources == (str(inbox / "payments" / "archive" / "p.csv"),)
    assert sorted(eng.offline.read("payments")["invoice_id"]) == ["P1", "P2", "P3"]
    assert _status(eng, "payments") == [
        (3, "resolved", retried.batch_id),
        (4, "resolved", retried.batch_id),
        (5, "rejected", None),
        (6, "rejected", None),
    ]
    assert eng.run().batches == []  # nothing new: nothing retried, nothing written
    assert sorted(eng.offline.read("payments")["invoice_id"]) == ["P1", "P2", "P3"]
