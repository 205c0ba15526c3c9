"""Partitioned offline tables: a run rewrites only its own ``as_of`` partition, atomically."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from cvm.store import OfflineStore

D1, D2 = date(2026, 1, 31), date(2026, 2, 28)


def _scores(as_of: date, ids: list[str], value: float) -> pl.DataFrame:
    return pl.DataFrame(
        {"customer_id": ids, "as_of": [as_of] * len(ids), "score": ["clv"] * len(ids), "value": [value] * len(ids)}
    )


def _store(tmp_path: Path) -> OfflineStore:
    store = OfflineStore(tmp_path / "off")
    store.create()
    return store


def test_parts_land_in_their_partition_folder_and_overwrite_keeps_other_dates(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with store.transaction() as tx:
        tx.append("scores", pl.concat([_scores(D1, ["A", "B"], 1.0), _scores(D2, ["A"], 2.0)]))
    assert store.partitions("scores") == ["2026-01-31", "2026-02-28"]
    assert all(p.parent.name.startswith("as_of=") for p in store.files("scores"))
    before_d1 = store.files("scores", D1)

    with store.transaction() as tx:
        tx.overwrite_partition("scores", D2, _scores(D2, ["A", "C"], 3.0))
    assert store.files("scores", D1) == before_d1  # the other date's files are untouched
    got = store.read("scores").sort("as_of", "customer_id")
    assert got.select("customer_id", "value").rows() == [("A", 1.0), ("B", 1.0), ("A", 3.0), ("C", 3.0)]
    assert store.read("scores", partition=D2).height == 2
    with store.connect() as con:  # DuckDB reads the same rows, the partition column from the files
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT as_of) FROM scores").fetchone() == (4, 2)


def test_rows_outside_the_partition_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with store.transaction() as tx:
        tx.append("scores", _scores(D1, ["A"], 1.0))
    with pytest.raises(ValueError, match="outside the partition as_of=2026-02-28"), store.transaction() as tx:
        tx.overwrite_partition("scores", D2, _scores(D1, ["B"], 9.0))
    assert store.read("scores").select("customer_id", "value").rows() == [("A", 1.0)]
    with pytest.raises(ValueError, match="not partitioned"), store.transaction() as tx:
        tx.drop_partition("customers", D1)


def store_shape(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(grade=pl.lit(None, pl.String), model_version=pl.lit(None, pl.String)).select(
        "customer_id", "as_of", "score", "value", "grade", "model_version", reasons=pl.lit(None, pl.String)
    )


def test_upsert_reads_and_rewrites_only_the_partitions_it_touches(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with store.transaction() as tx:
        tx.append("scores", pl.concat([_scores(D1, ["A", "B"], 1.0), _scores(D2, ["A"], 2.0)]))
    d1 = store.files("scores", D1)
    with store.transaction() as tx:
        tx.upsert("scores", _scores(D2, ["A", "B"], 5.0))
    assert store.files("scores", D1) == d1
    assert sorted(store.read("scores", partition=D2)["value"].to_list()) == [5.0, 5.0]
    assert store.count("scores") == 4


def test_parts_written_before_partitioning_move_into_partitions_at_the_next_write(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path / "off", retain_seconds=0)  # no retention for readers: deleted at the commit
    store.create()
    legacy = "scores/part-legacy.parquet"
    store_shape(pl.concat([_scores(D1, ["A"], 1.0), _scores(D2, ["A"], 2.0)])).write_parquet(store.root / legacy)
    manifest = json.loads((store.root / "_manifest.json").read_text())
    manifest["tables"]["scores"] = [legacy]
    (store.root / "_manifest.json").write_text(json.dumps(manifest))
    with store.transaction() as tx:
        tx.overwrite_partition("scores", D2, _scores(D2, ["B"], 7.0))
    got = store.read("scores").sort("as_of", "customer_id").select("customer_id", "value").rows()
    assert got == [("A", 1.0), ("B", 7.0)]
    assert not (store.root / legacy).exists()
    assert store.partitions("scores") == ["2026-01-31", "2026-02-28"]


_OVERWRITER = """
import sys, polars as pl
from datetime import date
from cvm.store import OfflineStore
store = OfflineStore(sys.argv[1])
with store.transaction() as tx:
    tx.drop_partition("scores", date(2026, 2, 28))
    for i in range(10_000):  # chunk after chunk until killed
        ids = [f"N{i}-{j}" for j in range(2000)]
        tx.append("scores", pl.DataFrame({"customer_id": ids, "as_of": [date(2026, 2, 28)] * 2000,
                                          "score": ["clv"] * 2000, "value": [9.0] * 2000}))
"""


def test_kill9_during_a_partition_overwrite_leaves_the_previous_partition_readable(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with store.transaction() as tx:
        tx.append("scores", pl.concat([_scores(D1, ["A"], 1.0), _scores(D2, ["A", "B"], 2.0)]))
    before = store.read("scores").sort("as_of", "customer_id")
    proc = subprocess.Popen([sys.executable, "-c", _OVERWRITER, str(store.root)], env=dict(os.environ))
    folder = store.root / "scores" / "as_of=2026-02-28"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(folder.glob("*.parquet"))) < 4:  # 2+ new chunks written
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert store.read("scores").sort("as_of", "customer_id").equals(before)
    with store.transaction() as tx:  # the next write sweeps the dead run's parts
        tx.append("scores", _scores(D1, ["Z"], 0.5))
    assert len(list(folder.glob("*.parquet"))) == 1
    assert store.read("scores", partition=D2).equals(before.filter(pl.col("as_of") == D2))
