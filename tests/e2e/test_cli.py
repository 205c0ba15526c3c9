"""The `cvm` command as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import CUSTOMERS_CSV, TRANSACTIONS_CSV, write

BAD = """transaction_id,customer_id,ts,amount
X1,C1,2024-05-01,10
X2,C1,yesterday,10
X3,NOBODY,2024-05-01,10
"""


def cvm(*args: str, ok: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "cvm.cli.main", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    cvm("init", str(tmp_path / "ws"))
    return tmp_path / "ws"


def test_init_writes_a_commented_config_and_stores(ws: Path) -> None:
    assert "#" in (ws / "cvm.yaml").read_text()
    assert (ws / "offline" / "_manifest.json").exists()
    assert (ws / "online.db").exists()
    assert (ws / "inbox" / "customers").is_dir()


def test_ingest_json_exit_codes_and_idempotency(ws: Path, tmp_path: Path) -> None:
    c = cvm("ingest", "customers", str(write(tmp_path / "c.csv", CUSTOMERS_CSV)), "-w", str(ws), "--json")
    first = json.loads(c.stdout)
    assert set(first) == {"table", "read", "accepted", "rejected", "batch_id"}
    assert (first["read"], first["accepted"], first["rejected"]) == (3, 3, 0)
    again = json.loads(cvm("ingest", "customers", str(tmp_path / "c.csv"), "-w", str(ws), "--json").stdout)
    assert again == first

    bad = write(tmp_path / "bad.csv", BAD)
    refused = cvm("ingest", "transactions", str(bad), "-w", str(ws), "--json", ok=False)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["rejected"] == 2
    assert "bad.csv:3 ts='yesterday': not a valid timestamp" in refused.stderr
    assert "bad.csv:4 customer_id='NOBODY': unknown customer" in refused.stderr
    loose = cvm("ingest", "transactions", str(bad), "-w", str(ws), "--json", "--max-reject-ratio", "0.7")
    assert json.loads(loose.stdout)["accepted"] == 1
    rejected = json.loads(cvm("quarantine", "-w", str(ws), "--table", "transactions", "--json").stdout)
    assert [(r["line"], r["field"], r["value"]) for r in rejected] == [
        (3, "ts", "yesterday"),
        (4, "customer_id", "NOBODY"),
    ]
    assert {r["batch_id"] for r in rejected} == {json.loads(loose.stdout)["batch_id"]}


def test_workspace_from_environment_and_unknown_workspace(ws: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cvm.cli.main", "customer", "list", "--json"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "CVM_WORKSPACE": str(ws)},
        check=True,
    )
    assert json.loads(proc.stdout) == {"data": [], "count": 0}
    missing = cvm("customer", "list", "-w", str(tmp_path / "nowhere"), ok=False)
    assert missing.returncode == 2
    assert "not a CVM workspace" in missing.stderr


def test_customer_show_and_keys(ws: Path, tmp_path: Path) -> None:
    cvm("ingest", "customers", str(write(tmp_path / "c.csv", CUSTOMERS_CSV)), "-w", str(ws))
    cvm("ingest", "transactions", str(write(tmp_path / "t.csv", TRANSACTIONS_CSV)), "-w", str(ws))
    view = json.loads(cvm("customer", "show", "C2", "-w", str(ws), "--json").stdout)
    assert view["kpis"]["revenue"] == 1200.0
    assert view["timeline"][-1]["ts"] == "2024-03-05T08:30:00+00:00"
    assert "Timeline" in cvm("customer", "show", "C2", "-w", str(ws)).stdout
    assert cvm("customer", "show", "C404", "-w", str(ws), ok=False).returncode == 2
    created = json.loads(cvm("keys", "create", "--role", "analyst", "-w", str(ws), "--json").stdout)
    assert created["key"].startswith(f"cvm_{created['id']}_")
    listed = json.loads(cvm("keys", "list", "-w", str(ws), "--json").stdout)
    assert [k["id"] for k in listed] == [created["id"]]
    assert created["key"] not in json.dumps(listed)
    cvm("keys", "revoke", created["id"], "-w", str(ws))
    assert json.loads(cvm("keys", "list", "-w", str(ws), "--json").stdout)[0]["active"] is False


def _files_containing(root: Path, needle: str) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            text = json.dumps(pq.read_table(path).to_pylist(), default=str)
        else:
            text = path.read_bytes().decode("latin-1")
        if needle in text:
            hits.append(path)
    return hits


def test_erase_leaves_the_address_in_no_file(ws: Path, tmp_path: Path) -> None:
    email = "erase.me@example.org"
    customers = CUSTOMERS_CSV + f"C9,Eve Erase,{email},2024-04-01,B2C,West,consumer,direct,true\n"
    cvm("ingest", "customers", str(write(tmp_path / "c.csv", customers)), "-w", str(ws))
    cvm(
        "ingest",
        "transactions",
        str(write(tmp_path / "t.csv", TRANSACTIONS_CSV + "T9,C9,2024-05-01,42,10,x\n")),
        "-w",
        str(ws),
    )
    contact = f"contact_id,customer_id,ts,channel,topic,text\nK1,C9,2024-05-02,email,complaint,reply to {email}\n"
    cvm("ingest", "contacts", str(write(tmp_path / "k.csv", contact)), "-w", str(ws))
    rejected = f"customer_id,email,acquired_at,kind\nC9,{email},2024-04-01,B2X\n"
    cvm(
        "ingest",
        "customers",
        str(write(tmp_path / "r.csv", rejected)),
        "-w",
        str(ws),
        "--upsert",
        "--max-reject-ratio",
        "1",
    )
    assert _files_containing(ws, email)

    erased = json.loads(cvm("customer", "erase", "C9", "--yes", "-w", str(ws), "--json").stdout)
    assert erased["rows"]["customers"] == 1
    assert _files_containing(ws, email) == []
    assert _files_containing(ws, "Eve Erase") == []
    summary = json.loads(cvm("run", "-w", str(ws), "--json").stdout)["summary"]
    assert summary["customers"] == 4
    rows = {t["table"]: t["rows"] for t in summary["tables"]}
    assert rows["transactions"] == 5  # the anonymised revenue stays in the aggregates
    audit = json.loads(cvm("audit", "-w", str(ws), "--json").stdout)
    erasures = [entry for entry in audit if entry["action"] == "customer.erase"]
    assert len(erasures) == 1
    assert "C9" not in json.dumps(erasures[0])
