"""The staging folders of a run killed mid-write are swept by the next write; a live run's folder never is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl

from cvm.store import OfflineStore
from cvm.store.chunks import staging_folder
from cvm.store.sweep import UNOWNED_GRACE_SECONDS, owned, sweep_staging

D1 = date(2026, 1, 31)

# A run that stages chunk after chunk (as the scoring does) until it is killed; it prints its folder first.
_STAGER = """
import sys, polars as pl
from pathlib import Path
from cvm.store import OfflineStore
from cvm.store.chunks import staging_folder
from cvm.store.sweep import owned
store = OfflineStore(sys.argv[1])
kind = sys.argv[2]
def stage(folder):
    print(folder, flush=True)
    for i in range(100_000):
        pl.DataFrame({"customer_id": [f"C{i}-{j}" for j in range(500)], "value": [1.0] * 500}).write_parquet(
            folder / f"chunk-{i}.parquet")
if kind == "scoring":
    with staging_folder(store) as folder:
        stage(folder)
else:
    with owned(store.root / "_staging" / "plans-0123456789ab") as folder:
        stage(folder)
"""


def _store(tmp_path: Path, retain_seconds: float) -> OfflineStore:
    store = OfflineStore(tmp_path / "off", retain_seconds=retain_seconds)
    store.create()
    with store.transaction() as tx:
        tx.append("scores", pl.DataFrame({"customer_id": ["A", "B"], "as_of": [D1, D1], "score": ["clv"] * 2,
                                          "value": [1.0, 2.0]}))  # fmt: skip
    return store


def _start(store: OfflineStore, kind: str) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _STAGER, str(store.root), kind], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert proc.stdout is not None
    folder = Path(proc.stdout.readline().strip())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(folder.glob("chunk-*.parquet"))) < 3:  # mid-write
        time.sleep(0.01)
    assert len(list(folder.glob("chunk-*.parquet"))) >= 3
    return proc, folder


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


def test_a_killed_runs_staging_folders_are_swept_by_the_next_write_and_the_data_stays(tmp_path: Path) -> None:
    store = _store(tmp_path, retain_seconds=0.0)
    before = store.read("scores")
    left = []
    for kind in ("scoring", "plans"):
        proc, folder = _start(store, kind)
        _kill(proc)
        assert folder.is_dir()  # the leftover
        assert folder.parent in (store.root, store.root / "_staging")
        left.append(folder)
    assert store.read("scores").equals(before)
    with store.transaction() as tx:  # the next run's first write sweeps them
        tx.append("scores", pl.DataFrame({"customer_id": ["Z"], "as_of": [D1], "score": ["clv"], "value": [0.5]}))
    assert not any(folder.exists() for folder in left)
    assert store.read("scores").sort("customer_id")["value"].to_list() == [1.0, 2.0, 0.5]


def test_a_live_runs_staging_folder_is_never_swept(tmp_path: Path) -> None:
    store = _store(tmp_path, retain_seconds=0.0)
    proc, folder = _start(store, "scoring")
    try:
        assert sweep_staging(store.root, 0.0, now=time.time() + 10 * UNOWNED_GRACE_SECONDS) == []
        with store.transaction() as tx:
            tx.append("scores", pl.DataFrame({"customer_id": ["Y"], "as_of": [D1], "score": ["clv"], "value": [3.0]}))
        assert folder.is_dir()
        assert proc.poll() is None  # still writing
    finally:
        _kill(proc)
    assert sweep_staging(store.root, 0.0) == [folder]


def test_a_leftover_younger_than_the_retention_stays_until_it_is_older(tmp_path: Path) -> None:
    store = _store(tmp_path, retain_seconds=600.0)
    proc, folder = _start(store, "plans")
    _kill(proc)
    with store.transaction() as tx:  # a reader of the dead run's files gets the retention, as retired parts do
        tx.append("scores", pl.DataFrame({"customer_id": ["X"], "as_of": [D1], "score": ["clv"], "value": [4.0]}))
    assert folder.is_dir()
    assert sweep_staging(store.root, 600.0, now=time.time() + 601) == [folder]


def test_a_folder_without_an_owner_waits_for_the_grace_period(tmp_path: Path) -> None:
    store = _store(tmp_path, retain_seconds=0.0)
    legacy = store.root / ".staging-legacy"  # staged by an older CVM, or a run that has not claimed it yet
    legacy.mkdir()
    (legacy / "chunk-0.parquet").write_bytes(b"x")
    assert sweep_staging(store.root, 0.0) == []
    assert sweep_staging(store.root, 0.0, now=time.time() + UNOWNED_GRACE_SECONDS + 1) == [legacy]


def test_a_finished_run_leaves_no_folder_and_its_own_claim_is_released(tmp_path: Path) -> None:
    store = _store(tmp_path, retain_seconds=0.0)
    with staging_folder(store) as folder:
        (folder / "chunk-0.parquet").write_bytes(b"x")
        assert sweep_staging(store.root, 0.0, now=time.time() + 10 * UNOWNED_GRACE_SECONDS) == []
    assert not folder.exists()
    with owned(store.root / "_staging" / "plans-x") as plans:
        assert plans.is_dir()
    assert not plans.exists()
