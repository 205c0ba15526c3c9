"""Field rules: which date columns may lie in the future."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from cvm.contracts import DATA_TABLES
from cvm.engine import Engine
from cvm.scoring.training_data import data_end
from tests.conftest import write


def test_only_due_dates_and_contract_ends_may_lie_in_the_future() -> None:
    allowed = {(t.name, c.name) for t in DATA_TABLES.values() for c in t.columns if c.future}
    assert allowed == {("payments", "due_date"), ("subscriptions", "end")}


def test_open_invoices_due_later_are_accepted_but_future_payments_are_not(loaded: Engine, tmp_path: Path) -> None:
    later = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    text = (
        "invoice_id,customer_id,due_date,paid_date,amount\n"
        f"I1,C1,{later},,100\n"
        "I2,C2,2024-03-01,2024-03-05,50\n"
        f"I3,C1,2024-03-01,{later},70\n"
    )
    result = loaded.ingest("payments", write(tmp_path / "p.csv", text), max_reject_ratio=1.0)
    assert (result.read, result.accepted, result.rejected) == (3, 2, 1)
    assert result.rejects is not None
    bad = result.rejects.select("line", "field").rows()
    assert bad == [(4, "paid_date")]
    stored = loaded.offline.read("payments").sort("invoice_id")
    assert stored["due_date"].to_list()[0] == date.fromisoformat(later)


def test_fixed_term_contracts_ending_later_are_accepted(loaded: Engine, tmp_path: Path) -> None:
    later = (datetime.now(UTC) + timedelta(days=300)).date().isoformat()
    start = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    text = (
        "subscription_id,customer_id,product,start,end,mrr\n"
        f"S1,C1,fibre,2024-01-01,{later},30\n"
        f"S2,C2,fibre,{start},,30\n"
    )
    result = loaded.ingest("subscriptions", write(tmp_path / "s.csv", text), max_reject_ratio=1.0)
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.rejects is not None
    assert result.rejects.filter(pl.col("field") == "start")["line"].to_list() == [3]


def test_invoices_due_later_do_not_extend_the_observed_data(loaded: Engine, tmp_path: Path) -> None:
    """Training windows end with the data actually observed, not at an open invoice's future due date."""
    later = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    text = f"invoice_id,customer_id,due_date,amount\nI1,C1,{later},100\nI2,C2,2024-03-01,50\n"
    assert loaded.ingest("payments", write(tmp_path / "p.csv", text)).accepted == 2
    assert data_end(loaded.offline) == date(2024, 4, 2)  # the day after the latest transaction
