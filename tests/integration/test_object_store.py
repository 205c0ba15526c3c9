"""The offline store in a local folder and in an S3 bucket (a real S3-compatible server): the same commits,
the same readers, the same failures; on S3 a second concurrent writer commits nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from cvm.store import OfflineStore, commit
from cvm.store.fs import ConcurrentWriteError
from tests.partition_readers import read_while_overwriting
from tests.s3_server import s3_endpoint_fixture, s3_url_fixture  # noqa: F401 (fixtures)

D1, D2 = date(2026, 1, 31), date(2026, 2, 28)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["local", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store's root: a local folder, then ``s3://<new bucket>/cvm``."""
    if request.param == "local":
        return str(tmp_path / "off")
    return str(request.getfixturevalue("s3_url"))


def _customers(ids: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": ids, "acquired_at": [date(2024, 1, 1)] * len(ids), "kind": ["B2B"] * len(ids)})


def _scores(as_of: date, value: float, rows: int = 50, chunk: int = 0) -> pl.DataFrame:
    ids = [f"C{chunk}-{i}" for i in range(rows)]
    return pl.DataFrame({"customer_id": ids, "as_of": [as_of] * rows, "score": ["clv"] * rows, "value": [value] * rows})


def _objects(store: OfflineStore, table: str) -> list[str]:
    """Every Parquet file under the table, listed or not."""
    return store.location.listing(table, ".parquet")


def test_commit_is_read_by_polars_and_duckdb_and_a_failed_write_leaves_nothing(where: str) -> None:
    store = OfflineStore(where)
    store.create()
    store.create()  # idempotent
    with store.transaction() as tx:
        tx.append("customers", _customers(["A", "B"]))
    assert sorted(store.read("customers")["customer_id"].to_list()) == ["A", "B"]
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM customers").fetchall() == [(2,)]
        assert con.execute("SELECT count(*) FROM transactions").fetchall() == [(0,)]

    def failing_write() -> None:
        with store.transaction() as tx:
            tx.append("customers", _customers(["C"]))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_write()
    assert store.count("customers") == 2
    assert _objects(store, "customers") == store.parts("customers")  # the failed write's part is gone
    assert store.manifest()["version"] == 1


def test_overwrite_partition_replaces_one_date_and_keeps_the_other(where: str) -> None:
    store = OfflineStore(where, retain_seconds=0)  # replaced parts go at the commit
    store.create()
    with store.transaction() as tx:
        tx.append("scores", pl.concat([_scores(D1, 1.0), _scores(D2, 1.0)]))
    d1 = store.parts("scores", D1)
    with store.transaction() as tx:
        tx.overwrite_partition("scores", D2, _scores(D2, 2.0, rows=30))
    assert store.partitions("scores") == [D1.isoformat(), D2.isoformat()]
    assert store.parts("scores", D1) == d1  # the other date is not rewritten
    assert store.read("scores", partition=D2)["value"].to_list() == [2.0] * 30
    assert store.count("scores") == 80
    assert sorted(_objects(store, "scores")) == sorted(store.parts("scores"))  # the old D2 part is deleted
    with pytest.raises(ValueError, match="outside the partition"), store.transaction() as tx:
        tx.overwrite_partition("scores", D1, _scores(D2, 3.0))
    assert store.count("scores") == 80


def test_a_reader_sees_the_old_or_the_new_partition_never_a_mix(where: str) -> None:
    store = OfflineStore(where)
    store.create()
    with store.transaction() as tx:
        tx.append("scores", _scores(D1, -1.0))
    chunks, rows = 3, 50

    def overwrite(version: int) -> None:
        with store.transaction() as tx:
            tx.drop_partition("scores", D2)
            for chunk in range(chunks):
                tx.append("scores", _scores(D2, float(version), rows, chunk))

    overwrite(0)
    seen = read_while_overwriting(store, D2, overwrite, 12, 8, 500)
    assert {height for height, _, _ in seen} == {chunks * rows}  # never part of a version
    assert all(len(values) == 1 for _, values, _ in seen)  # never two versions
    assert {whole for _, _, whole in seen} == {chunks * rows + 50}  # the other date (50 rows) is always whole
    assert len({values for _, values, _ in seen}) > 1  # the versions did change under the reader


def test_a_second_writer_on_s3_commits_nothing(s3_url: str) -> None:
    """Measured on the S3 server: a PUT with If-Match of an ETag that changed is refused (412), so the slower
    of two concurrent writers fails instead of dropping the other's commit."""
    store, other = OfflineStore(s3_url), OfflineStore(s3_url)
    store.create()

    def overtaken_write() -> None:
        with store.transaction() as tx:
            tx.append("customers", _customers(["A"]))
            with other.transaction() as tx2:  # a second process's write, committed meanwhile
                tx2.append("customers", _customers(["B"]))

    with pytest.raises(ConcurrentWriteError, match="another writer"):
        overtaken_write()
    assert store.read("customers")["customer_id"].to_list() == ["B"]
    assert _objects(store, "customers") == store.parts("customers")  # the refused write's part is deleted
    with store.transaction() as tx:  # the next write starts from the new version
        tx.append("customers", _customers(["C"]))
    assert sorted(store.read("customers")["customer_id"].to_list()) == ["B", "C"]


KILLED_WRITER = """
import sys, time
from datetime import date
import polars as pl
from cvm.store import OfflineStore
store = OfflineStore(sys.argv[1])
with store.transaction() as tx:
    day = date(2026, 2, 28)
    rows = {"customer_id": ["X"], "as_of": [day], "score": ["clv"], "value": [9.0]}
    tx.overwrite_partition("scores", day, pl.DataFrame(rows))
    print("written", flush=True)
    time.sleep(600)
"""


def test_kill9_during_a_partition_overwrite_leaves_the_previous_manifest(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OfflineStore(where, retain_seconds=0)
    store.create()
    with store.transaction() as tx:
        tx.append("scores", pl.concat([_scores(D1, 1.0), _scores(D2, 1.0)]))
    before = store.manifest()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED_WRITER), where], stdout=subprocess.PIPE,
                          text=True, env=env) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "written"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
    assert store.manifest() == before
    assert store.read("scores", partition=D2)["value"].to_list() == [1.0] * 50
    orphans = set(_objects(store, "scores")) - set(store.parts("scores"))
    assert len(orphans) == 1  # the killed write's part: never listed
    monkeypatch.setattr(commit, "UNLISTED_GRACE_SECONDS", 0.0)  # on S3 an unlisted part waits for this age
    with store.transaction() as tx:
        tx.append("customers", _customers(["A"]))
    assert set(_objects(store, "scores")) == set(store.parts("scores"))  # swept
    assert store.count("scores") == 100


def test_a_workspace_on_s3_keeps_its_local_files_local(tmp_path: Path, s3_url: str) -> None:
    from cvm.config import Settings
    from cvm.services.workspace import Workspace
    from cvm.store import StoreError

    ws = Workspace(tmp_path, Settings.model_validate({"store": {"offline_path": s3_url.replace("s3://", "s3a://")}}))
    assert ws.offline.url == s3_url  # s3a:// names the same objects
    assert ws.offline.scratch == tmp_path.resolve() / "offline-scratch"  # staging and saved reports
    with pytest.raises(StoreError, match="object store: this operation needs a local folder"):
        _ = ws.offline.root


def test_the_snapshot_stamp_of_an_s3_store_changes_with_each_commit(s3_url: str) -> None:
    store = OfflineStore(s3_url)
    assert store.stamp() == (0, 0, 0)
    store.create()
    first = store.stamp()
    assert store.stamp() == first
    with store.transaction() as tx:
        tx.append("customers", _customers(["A"]))
    assert store.stamp() != first


def test_no_s3_sweep_deletes_a_part_that_a_commit_lists(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with no age limit: a write that commits nothing sweeps nothing, and one that commits makes every
    write begun before it fail, so no manifest ever lists a swept part."""
    monkeypatch.setattr(commit, "UNLISTED_GRACE_SECONDS", 0.0)
    store, other = OfflineStore(s3_url, retain_seconds=0), OfflineStore(s3_url, retain_seconds=0)
    store.create()
    with store.transaction() as tx:
        tx.append("customers", _customers(["A"]))
        with other.transaction():  # a write with nothing to commit, meanwhile
            pass
    assert sorted(store.read("customers")["customer_id"].to_list()) == ["A"]  # its part was not swept

    def overtaken() -> None:
        with store.transaction() as tx:
            tx.append("customers", _customers(["B"]))
            with other.transaction() as tx2:  # commits, then sweeps the unlisted part above
                tx2.append("customers", _customers(["C"]))

    with pytest.raises(ConcurrentWriteError):
        overtaken()
    assert sorted(store.read("customers")["customer_id"].to_list()) == ["A", "C"]
    assert _objects(store, "customers") == sorted(store.parts("customers"))  # every listed part exists, no other
