"""The customer timeline reads every row, optional fields left empty included."""

from __future__ import annotations

from pathlib import Path

from cvm.engine import Engine
from tests.conftest import CUSTOMERS_CSV, write

NO_MARGIN = """transaction_id,customer_id,ts,amount,margin,product
T1,C1,2024-02-01T10:00:00Z,100.00,,hardware
T2,C1,2024-03-01T10:00:00Z,50.50,15.00,
"""


def test_a_transaction_without_margin_has_a_summary(engine: Engine, tmp_path: Path) -> None:
    assert engine.ingest("customers", write(tmp_path / "customers.csv", CUSTOMERS_CSV)).ok
    assert engine.ingest("transactions", write(tmp_path / "transactions.csv", NO_MARGIN)).ok
    summaries = {e["summary"] for e in engine.customers.timeline("C1") if e["source"] == "transactions"}
    assert summaries == {"hardware 100.0 (margin -)", "- 50.5 (margin 15.0)"}
