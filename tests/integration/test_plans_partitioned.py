"""The plan batch per partition: same decisions on DuckDB and Spark, each action enqueued once, COPY on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
import sqlalchemy as sa
import yaml

from cvm.contracts import DATA_TABLES
from cvm.delivery.outbox import enqueue
from cvm.demo import generate
from cvm.engine import Engine
from cvm.jobs import plan_load
from cvm.jobs.cycle import plan_states
from cvm.plans import partitioned
from cvm.plans.batch import offline_contacts
from cvm.plans.partitioned import decide_batch, decision_query, hub_contacts_sql, payload, stage_inputs
from cvm.segments.refresh import segment_base
from cvm.services import plan_base
from cvm.store import OfflineStore, bulk, decision_log
from tests.spark_session import SPARK_MARKS, spark

__all__ = ["spark"]  # the shared session fixture

pytestmark = SPARK_MARKS

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=7)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo base, ingested and scored once per module (tests work on copies)."""
    root = tmp_path_factory.mktemp("plans_partitioned")
    generate(600, 11, root / "data", end=NOW.date())
    engine = Engine.init(root / "ws")
    try:
        for table in DATA_TABLES:
            assert engine.ingest(table, root / "data" / f"{table}.parquet").ok
        engine.scoring.score(as_of=NOW.date())
    finally:
        engine.close()
    return root / "ws"


def _open(hub: Path, to: Path, backend: str = "duckdb", online_url: str | None = None) -> Engine:
    """An engine on a copy of the hub, with the offline backend and online store given."""
    ws = Path(shutil.copytree(hub, to))
    doc = yaml.safe_load((ws / "cvm.yaml").read_text(encoding="utf-8"))
    doc["store"]["offline"] = backend
    if online_url is not None:
        doc["store"]["online_url"] = online_url
    (ws / "cvm.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    engine = Engine.open(ws)
    engine.online.migrate()
    return engine


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    opened: list[Engine] = []
    yield opened
    for engine in opened:
        engine.close()


ACTION_COLUMNS = "idempotency_key, customer_id, plan, step, action, channel, expected_value, not_before"


def _actions(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.online.begin() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.text(f"SELECT {ACTION_COLUMNS} FROM action_requests")))


def _logged(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.online.begin() as conn:
        return sorted(
            (r.decision_id, r.customer_id, r.chosen, r.probability, r.rung, r.policy_version)
            for r in decision_log.online_records(conn)
        )


def _counts(engine: Engine) -> dict[str, int]:
    with engine.online.begin() as conn:
        return {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in ("action_requests", "decision_log", "suppressions", "assignments")
        }


def _states(engine: Engine) -> dict[str, dict[str, Any]]:
    return plan_states(engine.online)


def test_duckdb_and_spark_choose_the_same_actions_and_log_the_same_decisions(
    hub: Path, tmp_path: Path, spark: Any, engines: list[Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    preview = _open(hub, tmp_path / "preview")
    duck = _open(hub, tmp_path / "duck")
    on_spark = _open(hub, tmp_path / "spark", "spark")
    engines += [preview, duck, on_spark]
    batch = preview.plans.plan_batch(as_of=NOW.date(), now=NOW)  # the in-process batch: one decide per candidate
    keys = sorted(a.idempotency_key for _, d in batch.decisions for a in d.actions)
    ids = sorted(d.record.decision_id for _, d in batch.decisions if d.record is not None)
    probabilities = sorted((d.record.decision_id, d.record.probability) for _, d in batch.decisions if d.record)
    assert len(keys) > 100
    assert len(ids) > 100

    tracker = spark.sparkContext.statusTracker()
    # the newest job id, not the count: the status store keeps only the last spark.ui.retainedJobs (1,000) jobs
    jobs_before = max(tracker.getJobIdsForGroup(None), default=-1)
    a = duck.plans.act(now=NOW)
    with monkeypatch.context() as guarded:
        staged = _nothing_here(guarded)
        b = on_spark.plans.act(now=NOW)
    assert max(tracker.getJobIdsForGroup(None), default=-1) > jobs_before  # the Spark run ran Spark jobs
    assert staged  # the online inputs only: the segmented base is Spark's view, the hub contacts its query
    assert "segmented" not in staged

    for key in ("candidates", "customers", "enqueued", "suppressed", "logged", "reasons"):
        assert a[key] == b[key], key
    assert a["candidates"] == batch.candidates
    assert a["enqueued"] == len(keys)
    assert _actions(duck) == _actions(on_spark)
    assert [r[0] for r in _actions(duck)] == keys
    assert _logged(duck) == _logged(on_spark)
    assert [r[0] for r in _logged(duck)] == ids
    assert sorted((r[0], r[3]) for r in _logged(on_spark)) == probabilities
    assert _states(duck) == _states(on_spark) != {}

    # a week later the stored plan states drive the candidates (steps due, re-entry), staged in several parts
    monkeypatch.setattr(partitioned, "STATES_PART", 50)
    assert len(_states(duck)) > 100
    a, b = duck.plans.act(now=LATER), on_spark.plans.act(now=LATER)
    assert a["enqueued"] > 0
    for key in ("candidates", "customers", "enqueued", "duplicates", "suppressed", "logged", "reasons"):
        assert a[key] == b[key], key
    assert _actions(duck) == _actions(on_spark)
    assert _logged(duck) == _logged(on_spark)
    assert _states(duck) == _states(on_spark)


def test_the_hub_contacts_for_the_caps_are_queried_on_spark_as_in_this_process(
    hub: Path, tmp_path: Path, spark: Any, engines: list[Engine]
) -> None:
    on_spark = _open(hub, tmp_path / "spark", "spark")
    engines.append(on_spark)
    table = pl.from_arrow(on_spark.ws.backend.query(hub_contacts_sql(NOW)))
    assert isinstance(table, pl.DataFrame)
    queried = {r["customer_id"]: sorted((c["ts"], c["channel"], "inform") for c in r["_hub"]) for r in table.to_dicts()}
    in_process = {cid: sorted(c) for cid, c in offline_contacts(on_spark.offline.read("contacts"), NOW).items()}
    assert len(queried) > 20  # recent outbound contacts that the caps count
    assert queried == in_process


def _nothing_here(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse what the Spark plan batch must not do in this process: read the contacts, segment the base (DuckDB)
    or stage it as Parquet; returns the names of the tables it staged."""
    scan, read = OfflineStore.scan, OfflineStore.read

    def refuse(method: Any) -> Any:
        def guarded(self: OfflineStore, table: str, *args: Any, **kwargs: Any) -> Any:
            assert table != "contacts", "the contacts table was read in this process"
            return method(self, table, *args, **kwargs)

        return guarded

    def segment_here(*args: Any) -> Any:
        raise AssertionError("the base was segmented by DuckDB in this process")

    monkeypatch.setattr(OfflineStore, "scan", refuse(scan))
    monkeypatch.setattr(OfflineStore, "read", refuse(read))
    monkeypatch.setattr(plan_base, "compute_membership", segment_here)
    staged: list[str] = []
    load = plan_load._on_spark

    def on_spark_staged(backend: Any, paths: dict[str, Path], sql: str, text: str) -> Any:
        staged.extend(paths)
        return load(backend, paths, sql, text)

    monkeypatch.setattr(plan_load, "_on_spark", on_spark_staged)
    return staged


def _frozen(engine: Engine) -> dict[str, Any]:
    """The inputs of one batch, read once (a retried job decides from the same ones)."""
    events: dict[str, Any] = {}
    return {
        "config": engine.settings.plans,
        "now": NOW,
        "online_url": engine.online.url,
        "states": list(plan_states(engine.online).items()),
        "contacts": {},  # the outbox's (none yet); the hub's recent ones are read by the decision query
        "events": events,
        "experiments": engine.settings.experiments,
        "learned": engine.plans.learned(),
    }


@pytest.mark.postgres
def test_a_spark_batch_run_twice_enqueues_each_action_once(
    hub: Path, tmp_path: Path, pg_url: str, spark: Any, engines: list[Engine]
) -> None:
    engine = _open(hub, tmp_path / "ws", "spark", pg_url)
    engines.append(engine)
    frozen = _frozen(engine)
    con = engine.offline.connect()
    try:
        segment_base(con, engine.settings.segments, NOW.date())
        first = plan_load.run(engine.ws.backend, con, **frozen)
        after_first = (_counts(engine), _actions(engine), _logged(engine), _states(engine))
        again = plan_load.run(engine.ws.backend, con, **frozen)  # every task again: a retried job
    finally:
        con.close()
    assert first.counts["enqueued"] > 100
    assert after_first[0]["action_requests"] == first.counts["enqueued"]
    assert again.counts["enqueued"] == 0
    assert again.counts["duplicates"] == first.counts["enqueued"]
    assert (_counts(engine), _actions(engine), _logged(engine), _states(engine)) == after_first


def _one_batch(engine: Engine, folder: Path) -> tuple[str, pa.RecordBatch]:
    """The payload and the query rows of one batch of the plan batch, as a worker gets them."""
    frozen = _frozen(engine)
    paths = stage_inputs(folder, frozen["states"], frozen["contacts"], frozen["events"])
    con = engine.offline.connect()
    try:
        segment_base(con, engine.settings.segments, NOW.date())
        for name, path in paths.items():
            con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM read_parquet('{path}/*.parquet')")
        present = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE segmented)").fetchall()]
        table = con.sql(decision_query(frozen["config"], frozen["learned"], NOW, present)).to_arrow_table()
    finally:
        con.close()
    text = payload(frozen["config"], frozen["experiments"], frozen["learned"], NOW, engine.online.url)
    return text, table.combine_chunks().to_batches()[0]


def test_a_replayed_partition_enqueues_each_action_once(
    hub: Path, tmp_path: Path, online_url: str, engines: list[Engine]
) -> None:
    engine = _open(hub, tmp_path / "ws", online_url=online_url)
    engines.append(engine)
    text, batch = _one_batch(engine, tmp_path / "stage")
    first = plan_load.decide_and_load(text, batch)
    before = (_counts(engine), _actions(engine), _logged(engine), _states(engine))
    replay = plan_load.decide_and_load(text, batch)  # the same task's output, loaded again
    assert first["enqueued"] > 100
    assert before[0]["action_requests"] == first["enqueued"]
    assert before[0]["suppressions"] == first["suppressed"] > 0
    assert replay["enqueued"] == 0
    assert replay["duplicates"] == first["enqueued"]
    assert (_counts(engine), _actions(engine), _logged(engine), _states(engine)) == before


@pytest.mark.postgres
def test_the_bulk_load_copies_into_a_staging_table_on_postgresql(
    hub: Path, tmp_path: Path, pg_url: str, engines: list[Engine]
) -> None:
    engine = _open(hub, tmp_path / "ws", online_url=pg_url)
    engines.append(engine)
    text, batch = _one_batch(engine, tmp_path / "stage")
    decisions = decide_batch(text, batch)
    actions = [a for _, d in decisions for a in d.actions]
    records = [d.record for _, d in decisions if d.record is not None]
    assert len(actions) >= bulk.STAGE_MIN_ROWS
    assert len(records) >= bulk.STAGE_MIN_ROWS
    staged = sa.text(
        "SELECT relname, n_tup_ins FROM pg_stat_xact_all_tables WHERE relname LIKE 'cvm_stage_%' ORDER BY relname"
    )
    with engine.online.engine.connect() as conn, conn.begin():
        enqueue(conn, actions, now=NOW)
        decision_log.append(conn, records, NOW)
        first = {name.rsplit("_", 1)[0]: n for name, n in conn.execute(staged)}
        again = enqueue(conn, actions, now=NOW)  # replayed in the same transaction: staged again, nothing new
        outbox = conn.execute(sa.text("SELECT count(*) FROM action_requests")).scalar_one()
        copies = [n for name, n in conn.execute(staged) if name.startswith("cvm_stage_action_requests")]
    assert first == {"cvm_stage_action_requests": len(actions), "cvm_stage_decision_log": len(records)}
    assert copies == [len(actions), len(actions)]
    assert all(e.duplicate for e in again)
    assert outbox == len({a.idempotency_key for a in actions})
    with engine.online.engine.connect() as conn:  # the staging tables went with the transaction
        left = conn.execute(sa.text("SELECT count(*) FROM pg_class WHERE relname LIKE 'cvm_stage_%'"))
        assert left.scalar_one() == 0


def test_spark_workers_on_a_cluster_refuse_a_sqlite_online_store(tmp_path: Path) -> None:
    import duckdb

    from cvm.config.plans import PlansConfig
    from cvm.config.settings import SparkSettings
    from cvm.store import OfflineStore
    from cvm.store.backend import UnsupportedOperationError
    from cvm.store.spark import SparkBackend

    store = OfflineStore(tmp_path / "off")
    store.create()
    backend = SparkBackend(store, SparkSettings(master="spark://cluster:7077"))
    with duckdb.connect() as con, pytest.raises(UnsupportedOperationError, match=r"spark offline backend .*SQLite"):
        plan_load.run(backend, con, config=PlansConfig(), now=NOW, online_url=f"sqlite:///{tmp_path}/online.db",
                      states={}, contacts={}, events={})  # fmt: skip
    assert not (store.root / plan_load.STAGING).exists()
