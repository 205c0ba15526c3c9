"""The net revenue table is computed once per data version for every report of a view, and never served stale."""

from __future__ import annotations

from pathlib import Path

from cvm.engine import Engine
from cvm.reporting.reports import Inputs, cohorts_report, growth_report
from tests.conftest import CUSTOMERS_CSV, TRANSACTIONS_CSV, write

MORE = """transaction_id,customer_id,ts,amount,margin,product
T9,C3,2024-04-01T12:00:00Z,500,100,services
"""


def test_growth_and_cohorts_share_one_net_table_until_the_next_commit(engine: Engine, tmp_path: Path) -> None:
    assert engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV)).ok
    assert engine.ingest("transactions", write(tmp_path / "t.csv", TRANSACTIONS_CSV)).ok
    first = Inputs(engine.offline).net("transactions", "M", None)
    growth = growth_report(Inputs(engine.offline), "M")
    cohorts = cohorts_report(Inputs(engine.offline), "M")
    assert Inputs(engine.offline).net("transactions", "M", None) is first  # one scan for both reports
    assert Inputs(engine.offline).net("transactions", "Q", None) is not first  # another period, another table
    assert engine.ingest("transactions", write(tmp_path / "more.csv", MORE)).ok
    after = Inputs(engine.offline).net("transactions", "M", None)
    assert after is not first
    assert after["net"].sum() == first["net"].sum() + 50_000  # the new 500.00, in cents: nothing stale
    assert (
        growth_report(Inputs(engine.offline), "M").tables["growth"]["new"].sum() > growth.tables["growth"]["new"].sum()
    )
    assert cohorts_report(Inputs(engine.offline), "M").tables["cohorts"].height > cohorts.tables["cohorts"].height
