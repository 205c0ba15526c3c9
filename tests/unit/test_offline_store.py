"""The offline store commits through its manifest, or not at all."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from cvm.store import OfflineStore


def _frame(ids: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": ids, "acquired_at": [date(2024, 1, 1)] * len(ids), "kind": ["B2B"] * len(ids)})


def test_commit_is_visible_and_failure_leaves_nothing(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path / "off")
    store.create()
    with store.transaction() as tx:
        tx.append("customers", _frame(["A", "B"]))
    assert store.count("customers") == 2

    def failing_write() -> None:
        with store.transaction() as tx:
            tx.append("customers", _frame(["C"]))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_write()
    assert store.count("customers") == 2
    assert len(list((tmp_path / "off" / "customers").glob("*.parquet"))) == 1


def test_orphan_parts_are_swept_at_the_next_write(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path / "off")
    store.create()
    orphan = tmp_path / "off" / "customers" / "part-orphan.parquet"
    _frame(["X"]).write_parquet(orphan)
    assert store.count("customers") == 0
    with store.transaction() as tx:
        tx.append("customers", _frame(["A"]))
    assert not orphan.exists()
    assert store.read("customers")["customer_id"].to_list() == ["A"]


def test_replace_removes_superseded_files(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path / "off", retain_seconds=0)  # no retention for readers: deleted at the commit
    store.create()
    with store.transaction() as tx:
        tx.append("customers", _frame(["A"]))
    old = store.files("customers")
    with store.transaction() as tx:
        tx.replace("customers", _frame(["B"]))
    assert not any(p.exists() for p in old)
    assert store.read("customers")["customer_id"].to_list() == ["B"]


def test_duckdb_views_cover_every_table(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path / "off")
    store.create()
    with store.transaction() as tx:
        tx.append("customers", _frame(["A", "B"]))
    con = store.connect()
    assert con.execute("SELECT count(*) FROM customers").fetchone() == (2,)
    assert con.execute("SELECT count(*) FROM transactions").fetchone() == (0,)
