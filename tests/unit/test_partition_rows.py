"""A stage replaces only its own rows of one partition, chunk by chunk, in one transaction
(:mod:`cvm.store.partitions`), and chunks of customers cover every customer once (:mod:`cvm.store.chunks`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from cvm.store import OfflineStore
from cvm.store.chunks import chunk_connection, customer_ranges, scan
from cvm.store.partitions import Owned, replace_scores

D1, D2 = date(2026, 1, 31), date(2026, 2, 28)


def _rows(as_of: date, score: str, ids: list[str], value: float) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame({"customer_id": ids, "as_of": [as_of] * n, "score": [score] * n, "value": [value] * n})


@pytest.fixture
def store(tmp_path: Path) -> OfflineStore:
    store = OfflineStore(tmp_path / "off")
    store.create()
    with store.transaction() as tx:
        tx.append("scores", pl.concat([_rows(D1, "clv", ["A", "B"], 1.0), _rows(D1, "uplift_x", ["A"], 0.5)]))
        tx.append("scores", _rows(D2, "clv", ["A", "B"], 2.0))
    return store


def _at(store: OfflineStore, day: date) -> pl.DataFrame:
    return store.read("scores", partition=day).select("customer_id", "score", "value").sort("customer_id", "score")


def test_a_stage_replaces_its_rows_of_one_date_and_keeps_the_rest(store: OfflineStore) -> None:
    d2_files = store.files("scores", D2)
    chunks = iter([_rows(D1, "clv", ["A"], 10.0), _rows(D1, "clv", ["C"], 30.0)])
    assert replace_scores(store, D1, Owned(("clv",)), chunks) == 2
    assert _at(store, D1).rows() == [("A", "clv", 10.0), ("A", "uplift_x", 0.5), ("C", "clv", 30.0)]
    assert store.files("scores", D2) == d2_files  # the other date is not rewritten


def test_an_error_while_chunks_are_made_leaves_the_partition_as_it_was(store: OfflineStore) -> None:
    before, files = _at(store, D1), store.files("scores", D1)

    def failing() -> Iterator[pl.DataFrame]:
        yield _rows(D1, "clv", ["A"], 99.0)
        raise RuntimeError("scoring failed on the second chunk")

    with pytest.raises(RuntimeError, match="second chunk"):
        replace_scores(store, D1, Owned(("clv",)), failing())
    assert _at(store, D1).equals(before)
    assert store.files("scores", D1) == files
    assert sorted(p.name for p in (store.root / "scores").rglob("*.parquet")) == sorted(
        p.name for p in store.files("scores")
    )  # the parts written before the error are gone


def test_prefixes_own_a_family_of_scores(store: OfflineStore) -> None:
    replace_scores(store, D1, Owned((), ("uplift_",)), [])
    assert _at(store, D1)["score"].to_list() == ["clv", "clv"]


def test_chunks_cover_every_customer_once(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path / "hub")
    store.create()
    ids = [f"C{i:04d}" for i in range(23)]
    with store.transaction() as tx:
        tx.append("customers", pl.DataFrame({"customer_id": ids[::-1], "kind": "b2c", "acquired_at": D1}))
    ranges = customer_ranges(store, 5)
    assert len(ranges) == 5
    seen = [scan(store, "customers", r).collect()["customer_id"].sort().to_list() for r in ranges]
    assert [len(s) for s in seen] == [5, 5, 5, 5, 3]
    assert sorted(c for s in seen for c in s) == ids
    with chunk_connection(store, ranges[1]) as con:  # the SQL views hold the same customers as the scans
        assert [r[0] for r in con.execute("SELECT customer_id FROM customers ORDER BY 1").fetchall()] == seen[1]
    assert customer_ranges(store, 23) == [(None, None)]
