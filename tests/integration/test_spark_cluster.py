"""``cvm run`` on a real Spark cluster URL (standalone master and worker on this machine), configured by the
environment alone, gives what it gives on DuckDB.

The CLI runs in its own process (its own JVM, a driver of the cluster); the suite's shared local session is not
used. Decisions go to a PostgreSQL online store: the cluster's workers load them, and a SQLite file would be out
of their reach. Spark's cost here is its fixed cost per job, not the customers: the hub is small, and the DuckDB
reference runs while the cluster starts.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from cvm.config import load_settings
from cvm.engine import Engine
from tests.cli_process import CliRun, start_cvm
from tests.demo_hub import ingest_demo
from tests.integration.test_scoring_spark import SMALL_SESSION, _assert_same_rows, _scores
from tests.spark_cluster import executor_env, standalone_cluster
from tests.spark_session import SPARK_MARKS

pytestmark = [*SPARK_MARKS, pytest.mark.postgres]

CYCLE = ("segments", "candidates", "customers", "enqueued", "suppressed", "logged", "reasons")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with a small demo hub ingested (no trained models: the life cycle is skipped on both)."""
    from cvm.demo import generate

    root = tmp_path_factory.mktemp("cluster-hub")
    generate(300, 5, root / "data", end=date(2024, 12, 31))
    Engine.init(root / "ws").close()
    eng = Engine(root / "ws", load_settings(root / "ws", {}))
    try:
        ingest_demo(eng, root / "data")
    finally:
        eng.close()
    return root / "ws"


def start_cvm_run(ws: Path, env: dict[str, str]) -> CliRun:
    """``cvm run --json`` of ``ws`` started in a subprocess with ``env`` added."""
    return start_cvm(["run", "--workspace", str(ws), "--json"], env, ws)


def test_cvm_run_on_a_standalone_cluster_equals_duckdb(hub: Path, tmp_path: Path, pg_url: str) -> None:
    duck, sparked = (Path(shutil.copytree(hub, tmp_path / name)) for name in ("duck", "spark"))
    on_duckdb = start_cvm_run(duck, {})  # the reference, while the cluster starts
    try:
        with standalone_cluster(tmp_path / "cluster") as cluster:
            env = {
                **executor_env(),
                "CVM__STORE__OFFLINE": "spark",
                "CVM__STORE__SPARK__MASTER": cluster.master,
                "CVM__STORE__ONLINE_URL": pg_url,
                **SMALL_SESSION,  # the driver's session: few shuffle partitions, no web UI
            }
            got = start_cvm_run(sparked, env).report()
            assert "cvm" in cluster.applications()  # the driver ran its jobs on the cluster, not in local mode
    except BaseException:
        on_duckdb.stop()
        raise
    expected = on_duckdb.report()
    assert (expected["backend"], got["backend"]) == ("duckdb", "spark")
    assert got["ok"]
    assert expected["ok"]
    assert expected["cycle"]["enqueued"] > 0  # the small hub still decides, and suppresses some
    assert expected["cycle"]["suppressed"] > 0
    assert got["scores"]["rows"] > 0
    assert {**got["scores"], "backend": "duckdb"} == expected["scores"]  # models, grades and totals alike
    assert {k: got["cycle"][k] for k in CYCLE} == {k: expected["cycle"][k] for k in CYCLE}
    tables = {}
    for name, ws in (("duck", duck), ("spark", sparked)):
        eng = Engine(ws, load_settings(ws, {}))
        try:
            tables[name] = _scores(eng)
        finally:
            eng.close()
    _assert_same_rows(tables["duck"], tables["spark"])
