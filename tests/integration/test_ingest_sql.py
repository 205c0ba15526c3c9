"""Ingestion straight from a CRM/ERP database: a real PostgreSQL as the source."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import CUSTOMERS_CSV, write


@pytest.mark.postgres
def test_cli_ingests_a_postgres_query_with_line_numbers_for_rejects(pg_url: str, tmp_path: Path) -> None:
    erp = sa.create_engine(pg_url)
    with erp.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE facturen (nr text, klant text, datum date, bedrag numeric(12, 2))")
        conn.exec_driver_sql(
            "INSERT INTO facturen VALUES ('F1', 'C1', '2024-03-01', 120.50), ('F2', 'C2', '2024-03-02', 80.00),"
            " ('F3', 'C404', '2024-03-03', 10.00)"
        )
    erp.dispose()
    ws = tmp_path / "ws"

    def cvm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cvm.cli.main", *args], capture_output=True, text=True, timeout=300
        )

    assert cvm("init", str(ws)).returncode == 0
    assert cvm("ingest", "customers", str(write(tmp_path / "c.csv", CUSTOMERS_CSV)), "-w", str(ws)).returncode == 0
    query = "SELECT nr AS transaction_id, klant AS customer_id, datum AS ts, bedrag AS amount FROM facturen ORDER BY nr"
    proc = cvm(
        "ingest",
        "transactions",
        "--from-sql",
        pg_url,
        "--query",
        query,
        "-w",
        str(ws),
        "--json",
        "--max-reject-ratio",
        "0.5",
    )
    assert proc.returncode == 0, proc.stderr
    assert {k: v for k, v in json.loads(proc.stdout).items() if k != "batch_id"} == {
        "table": "transactions",
        "read": 3,
        "accepted": 2,
        "rejected": 1,
    }
    assert ":3 customer_id='C404': unknown customer" in proc.stderr
    password_free = sa.make_url(pg_url).render_as_string(hide_password=True)
    assert password_free.split("@")[-1] in proc.stderr
    again = cvm(
        "ingest",
        "transactions",
        "--from-sql",
        pg_url,
        "--query",
        query,
        "-w",
        str(ws),
        "--json",
        "--max-reject-ratio",
        "0.5",
    )
    assert json.loads(again.stdout) == json.loads(proc.stdout)
