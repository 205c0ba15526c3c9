"""``cvm train`` and ``cvm score`` on Spark (local[2]) give what they give on DuckDB, over the same demo hub.

One small demo company is ingested once; its workspace is copied, and the copy opened with
``store.offline: spark``. The life-cycle scores and early-warning flags of two dates, the labelled training
frames and the trained models' predictions are compared row for row and type for type.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from cvm.config import load_settings
from cvm.engine import Engine
from cvm.features import build_features
from cvm.features.build import connection
from cvm.scoring.evaluation import predict_scores
from cvm.scoring.registry import ModelRegistry
from cvm.scoring.training_data import labelled_dates, labelled_frame, sampled_sql
from cvm.services.scoring_backend import write_early_warning_on, write_lifecycle_scores_on
from cvm.store.spark import SparkBackend
from tests.cli_process import CliRun, start_cvm
from tests.demo_hub import ingest_demo
from tests.spark_session import SPARK_MARKS, spark

__all__ = ["spark"]  # the shared session fixture

pytestmark = SPARK_MARKS

N = 600  # every case below still occurs (three champions, three grades, flags); Spark costs per job
END = date(2024, 12, 31)
FIRST, SECOND = date(2024, 9, 1), date(2024, 11, 15)
ON_SPARK = {"CVM__STORE__OFFLINE": "spark", "CVM__STORE__SPARK__MASTER": "local[2]"}
#: A CLI's own session on a tiny hub: 4 shuffle partitions instead of 200, and no web UI (store.spark.conf keys from
#: the environment)
SMALL_SESSION = {
    "CVM__STORE__SPARK__CONF__spark.sql.shuffle.partitions": "4",
    "CVM__STORE__SPARK__CONF__spark.ui.enabled": "false",
}
FAST = {
    "CVM__MODELS__N_ESTIMATORS": "10",
    "CVM__MODELS__SNAPSHOTS": "1",
    "CVM__MODELS__MIN_POSITIVES": "10",
}  # small models: the test is equality


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with the demo hub ingested and the models trained on DuckDB (closed; tests copy it)."""
    from cvm.demo import generate

    root = tmp_path_factory.mktemp("spark-scoring")
    generate(N, 5, root / "data", end=END)
    Engine.init(root / "ws").close()
    eng = Engine(root / "ws", load_settings(root / "ws", FAST))
    try:
        ingest_demo(eng, root / "data")
        report = eng.scoring.train()
        assert report.backend == "duckdb"
        assert {m["name"] for m in report.models} == {"churn", "default", "propensity"}, report.notes
        registry = ModelRegistry(eng.workspace)
        for name in ("churn", "default", "propensity"):  # champions, whatever the gate says of small models
            if registry.champion(name) is None:
                registry.promote(name, registry.versions(name)[-1].version, force=True)
    finally:
        eng.close()
    return root / "ws"


def _open(hub: Path, where: Path, backend: str) -> Engine:
    ws = Path(shutil.copytree(hub, where))
    return Engine(ws, load_settings(ws, {**FAST, **(ON_SPARK if backend == "spark" else {})}))


@dataclass
class Pair:
    """The same workspace on DuckDB and on Spark, and what scoring reported on each."""

    duck: Engine
    spark: Engine
    infos: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def pair(hub: Path, spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """The workspace on both backends, each scored (life cycle, early warning) at two dates."""
    root = tmp_path_factory.mktemp("pair")
    both = Pair(_open(hub, root / "duck", "duckdb"), _open(hub, root / "spark", "spark"))
    assert isinstance(both.spark.ws.backend, SparkBackend)
    for eng in (both.duck, both.spark):
        for day in (FIRST, SECOND):
            info = write_lifecycle_scores_on(eng.ws.backend, eng.workspace, eng.settings, day)
            assert info["rows"] > 0
            info["flagged"] = write_early_warning_on(eng.ws.backend, eng.settings, day)
            both.infos.setdefault(eng.ws.backend.name, []).append(info)
    yield both
    both.duck.close()
    both.spark.close()


def _scores(eng: Engine) -> pl.DataFrame:
    return eng.scoring.ws.offline.read("scores").sort("as_of", "score", "customer_id")


def _assert_same_rows(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.schema == b.schema
    assert a.height == b.height > 0
    floats = [c for c, t in a.schema.items() if t == pl.Float64]
    assert a.drop(floats).equals(b.drop(floats))
    for col in floats:
        np.testing.assert_allclose(
            a[col].to_numpy().astype(float), b[col].to_numpy().astype(float), rtol=1e-9, atol=0, equal_nan=True
        )


def test_lifecycle_scores_and_early_warnings_are_the_same_on_spark(pair: Pair) -> None:
    a, b = _scores(pair.duck), _scores(pair.spark)
    _assert_same_rows(a, b)
    assert set(a["score"]) >= {"churn", "default", "default_points", "early_warning"}
    assert any(s.startswith("propensity:") for s in a["score"])
    assert a["grade"].drop_nulls().n_unique() == 3  # graded by share across partitions, as in one process
    assert pair.spark.ws.offline.partitions("scores") == [FIRST.isoformat(), SECOND.isoformat()]
    keys = ("customers", "rows", "models", "grades", "flagged")
    for left, right in zip(pair.infos["duckdb"], pair.infos["spark"], strict=True):
        assert {k: left[k] for k in keys} == {k: right[k] for k in keys}
    assert pair.infos["spark"][1]["flagged"] > 0


def test_rescoring_a_date_on_spark_replaces_only_its_rows(pair: Pair, tmp_path: Path) -> None:
    sparked = pair.spark
    before = _scores(sparked)
    eng = Engine(Path(shutil.copytree(sparked.workspace, tmp_path / "ws")), sparked.settings)
    try:
        write_lifecycle_scores_on(eng.ws.backend, eng.workspace, eng.settings, SECOND)
        write_early_warning_on(eng.ws.backend, eng.settings, SECOND)
        _assert_same_rows(before, _scores(eng))
    finally:
        eng.close()


def test_training_frames_and_models_are_the_same_on_spark(hub: Path, spark: Any, tmp_path: Path) -> None:
    eng = _open(hub, tmp_path / "ws", "spark")
    try:
        s = eng.settings
        entry = ModelRegistry(eng.workspace).champion("churn")
        assert entry is not None
        products = list(entry.meta["products"])
        day = labelled_dates("propensity", s, date.fromisoformat(entry.meta["training_window"]["data_until"]))[1]
        x1, y1 = labelled_frame(eng.ws.offline, "propensity", day, s, products)  # the widest: one label per product
        x2, y2 = labelled_frame(eng.ws.backend, "propensity", day, s, products)
        assert dict(x1.dtypes) == dict(x2.dtypes)
        _assert_same_rows(pl.from_pandas(x1), pl.from_pandas(x2))
        _assert_same_rows(pl.from_pandas(y1), pl.from_pandas(y2))
        small = s.model_copy(update={"models": s.models.model_copy(update={"max_training_rows": 100})})
        sql, _ = sampled_sql("churn", day, small, products)
        with connection(eng.ws.offline) as con:
            on_duckdb = con.sql(sql).pl()
        sample, _ = labelled_frame(eng.ws.backend, "churn", day, small, products)  # the stated sample, on Spark
        assert len(sample) == 100 < len(x2)
        assert sample["customer_id"].tolist() == on_duckdb["customer_id"].to_list() == sorted(sample["customer_id"])
        report = eng.scoring.train()
        assert report.to_dict()["backend"] == "spark"
        assert report.to_dict()["max_training_rows"] == s.models.max_training_rows
        registry = ModelRegistry(eng.workspace)
        base = build_features(eng.ws.offline, FIRST, products=products).to_pandas()
        for name in ("churn", "default", "propensity"):
            v1, v2 = registry.versions(name)[:2]  # trained on DuckDB, then on Spark
            assert v1.meta["training_window"] == v2.meta["training_window"]
            p1, p2 = predict_scores(name, v1.load(), base), predict_scores(name, v2.load(), base)
            assert p1.keys() == p2.keys()
            for key in p1:
                np.testing.assert_allclose(p1[key], p2[key], rtol=1e-9, atol=0, equal_nan=True, err_msg=key)
    finally:
        eng.close()


def start_cvm_score(ws: Path, env: dict[str, str]) -> CliRun:
    """``cvm score --json`` of ``ws`` as of :data:`SECOND` started in a subprocess (its own JVM on Spark)."""
    return start_cvm(["score", "--as-of", SECOND.isoformat(), "--workspace", str(ws), "--json"], env, ws)


@pytest.fixture(scope="module")
def scored(hub: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The workspace scored by ``cvm score --json`` through the CLI on each backend, at once: (workspace, report)."""
    root = tmp_path_factory.mktemp("cli")
    envs = {"duckdb": FAST, "spark": {**FAST, **ON_SPARK, **SMALL_SESSION}}
    workspaces = {backend: Path(shutil.copytree(hub, root / backend)) for backend in envs}
    runs = {backend: start_cvm_score(workspaces[backend], env) for backend, env in envs.items()}
    try:
        return {backend: (workspaces[backend], run.report(timeout=900)) for backend, run in runs.items()}
    finally:
        for run in runs.values():
            run.stop()


@pytest.mark.parametrize("backend", ["duckdb", "spark"])
def test_cvm_score_json_names_its_backend(scored: dict[str, tuple[Path, dict[str, Any]]], backend: str) -> None:
    _, report = scored[backend]
    assert report["backend"] == backend
    assert report["rows"] > 0


def test_cvm_score_on_spark_writes_the_scores_table_of_duckdb(scored: dict[str, tuple[Path, dict[str, Any]]]) -> None:
    """The whole ``scores`` table after ``cvm score`` (value, life cycle, early warning) is the same on both."""
    tables = {}
    for backend, (ws, _) in scored.items():
        eng = Engine(ws, load_settings(ws, FAST))
        try:
            tables[backend] = _scores(eng)
        finally:
            eng.close()
    a, b = tables["duckdb"], tables["spark"]
    _assert_same_rows(a, b)
    assert set(a["as_of"]) == {SECOND}
    assert {"clv", "net_clv", "p_alive", "churn", "default"} <= set(a["score"])
    duck, spark_report = scored["duckdb"][1], scored["spark"][1]
    assert {**spark_report, "backend": "duckdb"} == duck  # customers, models, grades and totals alike


def test_cvm_models_monitor_is_the_same_on_spark_and_reads_no_table_on_the_driver(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cvm.store import OfflineStore

    on_duckdb = pair.duck.scoring.monitor(SECOND).to_dict()

    def refuse(self: OfflineStore, table: str = "", *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the table {table or '(all)'} was opened in this process")

    with monkeypatch.context() as patched:
        for method in ("scan", "read", "connect"):
            patched.setattr(OfflineStore, method, refuse)
        on_spark = pair.spark.scoring.monitor(SECOND).to_dict()
    assert {m["name"] for m in on_duckdb["models"]} == {"churn", "default", "propensity"}
    for model in on_duckdb["models"]:
        assert model["feature_psi"], model["name"]
        assert model["score_psi"], model["name"]
        assert model["auc_now"] is not None, model["name"]
    assert on_spark == on_duckdb
