"""Readers of a partitioned table see one whole version of a partition while a writer overwrites it."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import polars as pl

from cvm.store import OfflineStore
from tests.partition_readers import read_while_overwriting

D1, D2 = date(2026, 1, 31), date(2026, 2, 28)
CHUNKS, ROWS = 4, 500


def _version(as_of: date, version: int, chunk: int) -> pl.DataFrame:
    ids = [f"C{chunk}-{i}" for i in range(ROWS)]
    return pl.DataFrame({"customer_id": ids, "as_of": [as_of] * ROWS, "score": ["clv"] * ROWS,
                         "value": [float(version)] * ROWS})  # fmt: skip


def _overwrite(store: OfflineStore, version: int) -> None:
    """One new version of the D2 partition, written chunk by chunk (several parts) in one transaction."""
    with store.transaction() as tx:
        tx.drop_partition("scores", D2)
        for chunk in range(CHUNKS):
            tx.append("scores", _version(D2, version, chunk))


def test_a_reader_sees_the_old_or_the_new_partition_never_a_mix(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path / "off")
    store.create()
    with store.transaction() as tx:
        tx.append("scores", _version(D1, -1, 0))
    _overwrite(store, 0)
    # at least 39 versions, and on until the reader has read 20 times (however busy the machine is)
    seen = read_while_overwriting(store, D2, lambda version: _overwrite(store, version), 40, 20, 2000)
    assert len(seen) > 20
    assert {height for height, _, _ in seen} == {CHUNKS * ROWS}  # never part of a version
    assert all(len(values) == 1 for _, values, _ in seen)  # never two versions
    assert {whole for _, _, whole in seen} == {CHUNKS * ROWS + ROWS}  # the other date is always whole
    assert len({values for _, values, _ in seen}) > 2  # the reader did see versions change


def test_replaced_parts_stay_readable_for_the_retention_then_the_next_write_deletes_them(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path / "off", retain_seconds=2.0)
    store.create()
    _overwrite(store, 1)
    old = store.files("scores", D2)
    old_manifest = store.manifest()
    _overwrite(store, 2)
    assert all(p.exists() for p in old)  # a reader holding the previous manifest still reads version 1 whole
    stale = pl.read_parquet([store.root / rel for rel in old_manifest["tables"]["scores"]])
    assert set(stale["value"].to_list()) == {1.0}
    assert store.read("scores")["value"].unique().to_list() == [2.0]
    _overwrite(store, 3)  # within the retention: version 1 and 2 parts are both kept
    assert all(p.exists() for p in old)
    time.sleep(2.1)
    with store.transaction() as tx:  # the first write after the retention deletes them and forgets them
        tx.append("scores", _version(D1, 0, 0))
    assert not any(p.exists() for p in old)
    assert set(store.manifest()["retired"]) == set()
    listed = {store.root / rel for parts in store.manifest()["tables"].values() for rel in parts}
    assert set((store.root / "scores").rglob("*.parquet")) == listed


def test_an_erasure_leaves_no_retired_copy_of_the_personal_data(tmp_path: Path) -> None:
    from cvm.customers.erase import erase_customer

    store = OfflineStore(tmp_path / "off")  # the default retention for readers
    store.create()
    people = {"customer_id": ["A", "B"], "name": ["Ann Secretname", "Bob Other"], "acquired_at": [D1, D1]}
    with store.transaction() as tx:
        tx.append("customers", pl.DataFrame({**people, "kind": ["B2C", "B2C"]}))
    with store.transaction() as tx:  # an earlier rewrite: its replaced part is retired, with the name in it
        tx.replace("customers", pl.DataFrame({**people, "kind": ["B2C", "B2B"]}))
    assert len(store.manifest()["retired"]) == 1
    erase_customer(store, "A", "subject-a")
    names = pl.concat([pl.read_parquet(p) for p in (store.root / "customers").rglob("*.parquet")], how="diagonal")
    assert names.height == 2
    assert "Ann Secretname" not in names["name"].to_list()  # no retired part keeps it on disk
    assert store.manifest()["retired"] == {}


def test_an_erasure_rewrites_only_the_partitions_that_hold_the_customer(tmp_path: Path) -> None:
    from cvm.customers.erase import erase_customer

    store = OfflineStore(tmp_path / "off")
    store.create()
    with store.transaction() as tx:
        tx.append("customers", pl.DataFrame({"customer_id": ["A", "B"], "acquired_at": [D1, D1], "kind": ["B2C"] * 2}))
        tx.append("scores", pl.concat([_version(D1, 1, 0), _version(D2, 2, 0)]).with_columns(
            customer_id=pl.when(pl.col("as_of") == D2).then(pl.lit("B")).otherwise(pl.col("customer_id"))
        ))  # fmt: skip
        tx.append("scores", _version(D1, 1, 1).head(1).with_columns(customer_id=pl.lit("A")))
    d2 = store.files("scores", D2)
    erasure = erase_customer(store, "A", "subject-a")
    assert erasure.rows["scores"] == 1
    assert store.files("scores", D2) == d2  # B's date is not rewritten
    scores = store.read("scores")
    assert "A" not in scores["customer_id"].to_list()
    assert scores.height == 2 * ROWS + 1  # re-keyed, not deleted
