"""``cvm run`` saves the default view's net-revenue table; a fresh server reads it; new data or an erasure voids it."""

from __future__ import annotations

from pathlib import Path

import httpx
import polars as pl
from polars.testing import assert_frame_equal

from cvm.api import create_app
from cvm.engine import Engine
from cvm.reporting import persisted, shared
from cvm.reporting.reports import Inputs
from tests.conftest import write
from tests.serving import serve

MORE_TRANSACTIONS = """transaction_id,customer_id,ts,amount,margin,product
T5,C2,2024-05-02T08:00:00Z,0.07,0.01,supplies
T6,C3,2024-05-03T08:00:00Z,19.99,5.00,hardware
"""


def saved(engine: Engine) -> pl.DataFrame | None:
    store = engine.offline
    return persisted.load(store.root, persisted.digest(store.manifest(), "transactions", "M", None))


def growth(engine: Engine) -> dict[str, object]:
    """The growth report as ``cvm report growth --json`` prints it, with nothing in memory."""
    shared.clear()
    return engine.reports.report("growth", "M").to_dict()


def test_run_saves_the_net_table_equal_to_the_computed_one_to_the_cent(loaded: Engine) -> None:
    loaded.run()
    table = saved(loaded)
    assert table is not None
    computed = Inputs(loaded.offline).compute_net("transactions", "M", None)
    assert_frame_equal(table, computed, check_exact=True)
    assert 5050 in table["net"].to_list()  # 50.50 in cents, exactly
    from_disk = growth(loaded)
    persisted.forget(loaded.offline.root)
    assert growth(loaded) == from_disk  # every figure of the report, from the saved table or from the scan


def test_a_fresh_server_serves_the_growth_page_from_the_saved_table(loaded: Engine) -> None:
    loaded.run()
    key = loaded.access.create_key("analyst", "test")[1]
    shared.clear()  # nothing in memory: a freshly started server
    before = persisted.loads
    fresh = Engine.open(loaded.workspace)
    with serve(create_app(fresh)) as url:
        response = httpx.get(f"{url}/ui/growth", headers={"X-API-Key": key}, timeout=60)
    fresh.close()
    assert response.status_code == 200
    assert persisted.loads > before


def test_new_data_voids_the_saved_table_and_the_report_counts_it(loaded: Engine, tmp_path: Path) -> None:
    loaded.run()
    assert saved(loaded) is not None
    assert loaded.ingest("transactions", write(tmp_path / "more.csv", MORE_TRANSACTIONS)).ok
    assert saved(loaded) is None  # its digest named the old files
    before = persisted.loads
    report = growth(loaded)
    assert persisted.loads == before
    may = [row for row in report["tables"]["growth"] if str(row["period"]) == "2024-05"]  # type: ignore[index]
    assert len(may) == 1
    assert may[0]["end"] == 20.06  # 0.07 + 19.99: the new rows, to the cent
    loaded.run()
    assert saved(loaded) is not None
    assert len(list(persisted.folder(loaded.offline.root).iterdir())) == len(persisted.VIEWS)  # the old one is gone


def test_an_erasure_deletes_the_saved_tables(loaded: Engine) -> None:
    loaded.run()
    assert saved(loaded) is not None
    loaded.customers.erase("C1")
    assert not persisted.folder(loaded.offline.root).exists()  # they held C1's id
    report = growth(loaded)
    assert report["tables"]["growth"]  # computed from the erased store
