"""Issue 15, items 3-4: refusals explained in `cvm run` and `cvm quarantine`, rejected rows retried once fixable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from tests.e2e.test_cli import cvm

CUSTOMERS = """customer_id,name,acquired_at,kind
C1,Ann,2024-01-05,B2C
C2,Bob,2024-02-10,B2B
C3,Cas,2024-03-15,B2B
C4,Dee,05/2024/31,B2C
"""
CUSTOMERS_FIXED = """customer_id,name,acquired_at,kind
C4,Dee,2024-05-31,B2C
"""
PAYMENTS = """invoice_id,customer_id,due_date,paid_date,amount
P1,C1,2024-06-01,2024-06-03,100
P2,C2,2024-06-01,,50
P3,C3,2024-06-02,2024-06-02,75
P4,C4,2024-06-05,,20
P5,C4,2024-07-05,,20
P6,C4,2024-08-05,2024-08-06,20
"""
TRANSACTIONS = """transaction_id,customer_id,ts,amount
T1,C4,2024-06-01,10
T2,C4,2024-06-02,12
"""


@pytest.fixture
def ws(tmp_path: Path, online_url: str) -> Path:
    """A fresh workspace made by `cvm init`, its online store on each backend, half the rows may be rejected."""
    ws = tmp_path / "ws"
    cvm("init", str(ws))
    config = yaml.safe_load((ws / "cvm.yaml").read_text())
    config["store"]["online_url"] = online_url
    config["ingest"]["max_reject_ratio"] = 0.5
    (ws / "cvm.yaml").write_text(yaml.safe_dump(config))
    return ws


def _drop(ws: Path, table: str, name: str, text: str) -> Path:
    path = ws / "inbox" / table / name
    path.write_text(text, encoding="utf-8")
    return path


def _run(ws: Path, ok: bool = True) -> dict[str, dict[str, Any]]:
    proc = cvm("run", "-w", str(ws), "--json", ok=ok)
    assert proc.returncode == (0 if ok else 1), proc.stderr
    return {b["table"]: b for b in json.loads(proc.stdout)["batches"]}


def _quarantine(ws: Path, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(cvm("quarantine", "-w", str(ws), "--json", *args).stdout)
    return rows


def _cells(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((r["table"], r["line"], r["field"], r["value"], r["status"]) for r in rows)


def _stored(ws: Path, table: str) -> list[str]:
    manifest = json.loads((ws / "offline" / "_manifest.json").read_text())
    key = {"payments": "invoice_id", "transactions": "transaction_id", "customers": "customer_id"}[table]
    parts = [pq.read_table(ws / "offline" / part) for part in manifest["tables"][table]]
    return sorted(v for part in parts for v in part[key].to_pylist())


@pytest.mark.slow
def test_refusals_are_explained_and_rejected_rows_load_once_their_customer_exists(ws: Path) -> None:
    _drop(ws, "customers", "customers.csv", CUSTOMERS)
    payments = _drop(ws, "payments", "payments.csv", PAYMENTS)
    _drop(ws, "transactions", "transactions.csv", TRANSACTIONS)

    proc = cvm("run", "-w", str(ws), "--json", ok=False)  # the transactions file is refused: exit 1
    assert proc.returncode == 1
    waiting = {f["table"]: f["quarantined"] for f in json.loads(proc.stdout)["summary"]["tables"]}
    assert (waiting["customers"], waiting["payments"], waiting["transactions"]) == (1, 3, 2)
    first = {b["table"]: b for b in json.loads(proc.stdout)["batches"]}
    c, p, t = first["customers"], first["payments"], first["transactions"]
    assert (c["status"], c["read"], c["accepted"], c["rejected"]) == ("committed", 4, 3, 1)
    assert [(r["line"], r["field"], r["value"], r["reason"]) for r in c["rejects"]] == [
        (5, "acquired_at", "05/2024/31", "not a valid date")
    ]
    assert (p["status"], p["read"], p["accepted"], p["rejected"]) == ("committed", 6, 3, 3)
    assert [(r["line"], r["value"]) for r in p["rejects"]] == [(5, "C4"), (6, "C4"), (7, "C4")]
    assert {r["reason"] for r in p["rejects"]} == {"unknown customer (load customers first)"}
    assert (t["status"], t["read"], t["accepted"], t["rejected"]) == ("refused", 2, 0, 2)
    assert t["reason"] == "100.0% of rows rejected, above the limit of 50.0%"
    assert t["sources"] == [str(ws / "inbox" / "transactions" / "transactions.csv")]
    assert [(r["line"], r["field"], r["value"]) for r in t["rejects"]] == [
        (2, "customer_id", "C4"),
        (3, "customer_id", "C4"),
    ]
    assert (ws / "inbox" / "transactions" / "transactions.csv").exists()  # refused: stays for the next run

    table = cvm("run", "-w", str(ws), ok=False).stdout
    assert "refused:" in table
    assert "100.0% of rows rejected" in table
    assert "unknown customer" in table

    assert _cells(_quarantine(ws)) == [
        ("customers", 5, "acquired_at", "05/2024/31", "rejected"),
        ("payments", 5, "customer_id", "C4", "rejected"),
        ("payments", 6, "customer_id", "C4", "rejected"),
        ("payments", 7, "customer_id", "C4", "rejected"),
        ("transactions", 2, "customer_id", "C4", "refused"),
        ("transactions", 3, "customer_id", "C4", "refused"),
    ]
    refused = _quarantine(ws, "--status", "refused")
    assert {r["batch_id"] for r in refused} == {t["batch_id"]}
    assert len(refused) == 2  # refused twice (two runs), its cells are kept once

    _drop(ws, "customers", "customers_fixed.csv", CUSTOMERS_FIXED)
    shutil.copy(ws / "inbox" / "payments" / "archive" / "payments.csv", payments)  # the same file, sent again
    proc = cvm("run", "-w", str(ws), "--json")
    assert {f["quarantined"] for f in json.loads(proc.stdout)["summary"]["tables"]} == {0}
    second = {b["table"]: b for b in json.loads(proc.stdout)["batches"]}
    c2, p2, t2 = second["customers"], second["payments"], second["transactions"]
    assert (c2["status"], c2["read"], c2["accepted"], c2["rejected"]) == ("committed", 1, 1, 0)
    assert (p2["status"], p2["read"], p2["accepted"], p2["rejected"]) == ("retried", 3, 3, 0)
    assert p2["message"] == "unchanged; 3 rows rejected earlier now load: their customers exist"
    assert p2["retry_of"] == p["batch_id"]
    assert p2["batch_id"] != p["batch_id"]
    assert (t2["status"], t2["read"], t2["accepted"], t2["rejected"]) == ("committed", 2, 2, 0)

    after = _quarantine(ws)
    assert {r["status"] for r in after} == {"resolved"}
    resolved_by = {(r["table"], r["line"]): r["resolved_by"] for r in after}
    assert resolved_by == {
        ("customers", 5): c2["batch_id"],
        ("payments", 5): p2["batch_id"],
        ("payments", 6): p2["batch_id"],
        ("payments", 7): p2["batch_id"],
        ("transactions", 2): t2["batch_id"],
        ("transactions", 3): t2["batch_id"],
    }
    assert _stored(ws, "customers") == ["C1", "C2", "C3", "C4"]
    assert _stored(ws, "payments") == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert _stored(ws, "transactions") == ["T1", "T2"]

    audit = json.loads(cvm("audit", "-w", str(ws), "--json").stdout)
    retry = [e for e in audit if e["action"] == "ingest.retried"]
    assert [(e["target"], e["rows"]) for e in retry] == [("payments", 3)]
    assert retry[0]["actor"].startswith("cli")
    detail = retry[0]["detail"]
    assert (detail["batch_id"], detail["retry_of"], detail["read"], detail["rejected"]) == (
        p2["batch_id"],
        p["batch_id"],
        3,
        0,
    )

    shutil.copy(ws / "inbox" / "payments" / "archive" / "payments.csv", payments)  # a third time: nothing left
    third = _run(ws)
    assert (third["payments"]["status"], third["payments"]["message"]) == ("unchanged", None)
    assert _stored(ws, "payments") == ["P1", "P2", "P3", "P4", "P5", "P6"]
