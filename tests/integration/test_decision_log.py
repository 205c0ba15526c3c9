"""The decision log on every online-store backend (issue 18): append-only, written with the actions, erased per
person online and offline, exported incrementally to Parquet and read back as the same records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa

from cvm.config.plans import PlansConfig
from cvm.contracts.decisionlog import DecisionRecord
from cvm.delivery import write_transaction
from cvm.engine import Engine
from cvm.plans.decide import decide
from cvm.store import decision_log
from cvm.store.tables import decision_log as table
from tests.conftest import CUSTOMERS_CSV, write
from tests.unit.test_decision_ladder import _exp, _plans, _state

T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def _records(cid: str, n: int, start: datetime = T0) -> list[DecisionRecord]:
    out = []
    for i in range(n):
        rec = decide(_plans(2), _state(cid, spend=10.0 + i), start + timedelta(minutes=i), (), _exp(0.3)).record
        assert rec is not None
        out.append(rec)
    return out


def _online(engine: Engine) -> list[DecisionRecord]:
    with engine.online.begin() as conn:
        return decision_log.online_records(conn)


def _by_id(records: list[DecisionRecord]) -> list[DecisionRecord]:
    return sorted(records, key=lambda r: r.decision_id)


def test_the_log_is_append_only_and_a_repeat_is_logged_once(any_engine: Engine) -> None:
    recs = _records("C1", 2) + _records("C2", 1)
    with write_transaction(any_engine.online) as conn:
        assert decision_log.append(conn, [*recs, None], T0) == 3
    with write_transaction(any_engine.online) as conn:  # a retried batch: the same decisions
        decision_log.append(conn, recs[:2], T0)
    assert _by_id(_online(any_engine)) == _by_id(recs)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), any_engine.online.begin() as conn:
        conn.execute(table.update().values(chosen="forged"))
    assert _by_id(_online(any_engine)) == _by_id(recs)  # nothing changed


def test_erasure_removes_the_person_from_the_log_online_and_offline(any_engine: Engine, tmp_path: Path) -> None:
    any_engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
    with write_transaction(any_engine.online) as conn:
        decision_log.append(conn, _records("C1", 2) + _records("C2", 1), T0)
    assert decision_log.export(any_engine.offline, any_engine.online) == 3
    erasure = any_engine.customers.erase("C1")
    assert (erasure.rows["online.decision_log"], erasure.rows["decision_log"]) == (2, 2)
    assert {r.customer_id for r in _online(any_engine)} == {"C2"}
    assert {r.customer_id for r in decision_log.records(any_engine.offline)} == {"C2"}


def test_the_export_is_incremental_exactly_once_and_round_trips(any_engine: Engine) -> None:
    first = _records("C1", 3)
    with write_transaction(any_engine.online) as conn:
        decision_log.append(conn, first, T0)
    assert decision_log.export(any_engine.offline, any_engine.online) == 3
    assert decision_log.export(any_engine.offline, any_engine.online) == 0  # again: nothing twice
    later = _records("C2", 2, T0 + timedelta(days=1))
    late = _records("C3", 1, T0 + timedelta(hours=2))
    with write_transaction(any_engine.online) as conn:
        decision_log.append(conn, later, T0 + timedelta(hours=1))
        decision_log.append(conn, late, T0 - timedelta(minutes=10))  # committed late, logged before the newest row
    assert decision_log.export(any_engine.offline, any_engine.online) == 3
    assert _by_id(decision_log.records(any_engine.offline)) == _by_id(first + later + late)
    frame = decision_log.read(any_engine.offline)
    assert frame.height == 6
    assert set(frame.columns) >= {"decision_id", "chosen", "probability", "rung", "candidates", "policy_version"}


def test_the_events_api_logs_the_decision_in_the_events_transaction(any_engine: Engine, tmp_path: Path) -> None:
    any_engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
    off = {name: {"enabled": False} for name in ("welcome", "qualification", "contact")}
    plan = {
        "trigger": {"type": "event", "event": "transaction"},
        "steps": [{"name": "thanks", "objective": "inform", "channel": "email", "propensity": "0.5", "value": "10"}],
    }
    policy = {"quiet_hours": {"channels": []}, "caps": {}}
    plans = PlansConfig.model_validate({"definitions": {**off, "thanks": plan}, "policy": policy})
    any_engine.plans.events.decide = partial(decide, plans, experiments=_exp(0.0), path="realtime")
    event = {"event_id": "e1", "customer_id": "C1", "type": "transaction", "ts": "2024-06-01T10:00:00+00:00",
             "properties": {"amount": 150.0, "product": "hardware"}}  # fmt: skip
    report = any_engine.plans.ingest_events([event])
    assert [len(o.actions) for o in report.outcomes] == [1]
    [rec] = _online(any_engine)
    assert (rec.customer_id, rec.path, rec.chosen, rec.probability, rec.rung) == (
        "C1",
        "realtime",
        "thanks.thanks",
        1.0,
        "exploit",
    )
    assert any_engine.plans.ingest_events([event]).outcomes[0].status == "duplicate"
    assert len(_online(any_engine)) == 1  # a repeated event decides nothing again


def test_the_pilot_report_covers_each_rung_of_the_ladder(workspace: Path, tmp_path: Path) -> None:
    import yaml

    from cvm.contracts.actions import Assignment
    from cvm.experiments import records
    from tests.conftest import TRANSACTIONS_CSV

    config = yaml.safe_load((workspace / "cvm.yaml").read_text())
    config["experiments"]["holdout_share"] = 0.2
    config["experiments"]["ladder"] = {"exploration": 0.3, "plan_holdout": {"welcome": 0.1}}
    (workspace / "cvm.yaml").write_text(yaml.safe_dump(config))
    engine = Engine.open(workspace)
    try:
        engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
        engine.ingest("transactions", write(tmp_path / "t.csv", TRANSACTIONS_CSV))
        at = datetime(2024, 1, 10, tzinfo=UTC)
        arms = {"C1": "holdout", "C2": "contacted", "C3": "contacted"}
        rows = [Assignment("global", c, a, 1, at) for c, a in arms.items()]
        explore = [
            replace_rung(r, rung)
            for r, rung in zip(_records("C1", 1) + _records("C2", 1), ("explore", "exploit"), strict=True)
        ]
        with write_transaction(engine.online) as conn:
            records.record(conn, rows)
            decision_log.append(conn, explore, at)
        listed = {p["name"]: p for p in engine.pilots.pilots()}
        assert {"global", "plan:welcome", "explore"} <= set(listed)
        assert listed["global"]["arms"] == {"holdout": 1, "contacted": 2}
        assert listed["explore"]["arms"] == {"exploit": 1, "explore": 1}
        report = engine.pilots.pilot_report("global")
        assert (report["control"], [a["assigned"] for a in report["arms"]]) == ("holdout", [1, 2])
        assert engine.pilots.pilot_report("explore")["arms"][1]["assigned"] == 1
    finally:
        engine.close()


def replace_rung(rec: DecisionRecord, rung: str) -> DecisionRecord:
    from dataclasses import replace

    return replace(rec, rung=rung)  # type: ignore[arg-type]


def test_migration_0007_goes_down_and_up_again(online_url: str) -> None:
    from alembic import command

    from cvm.store import OnlineStore
    from cvm.store.online import _alembic_config

    store = OnlineStore(online_url)
    store.migrate()
    cfg = _alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    assert "decision_log" not in sa.inspect(store.engine).get_table_names()
    store.migrate()
    with write_transaction(store) as conn:
        decision_log.append(conn, _records("C1", 1), T0)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.begin() as conn:
        conn.exec_driver_sql("UPDATE decision_log SET rung = 'exploit'")
    store.dispose()


def test_thompson_posteriors_come_from_the_pilot_outcomes(workspace: Path, tmp_path: Path) -> None:
    import yaml

    from cvm.contracts.actions import Assignment
    from cvm.experiments import records
    from cvm.experiments.ladder_report import variant_posteriors
    from tests.conftest import TRANSACTIONS_CSV

    config = yaml.safe_load((workspace / "cvm.yaml").read_text())
    arms = {"control": {"share": 0.2, "holdout": True}, "a": {"share": 0.4}, "b": {"share": 0.4, "offer": "B"}}
    pilot = {"plan": "welcome", "allocation": "thompson", "primary": "conversion", "arms": arms}
    config["experiments"]["pilots"] = {"t": pilot}
    (workspace / "cvm.yaml").write_text(yaml.safe_dump(config))
    engine = Engine.open(workspace)
    try:
        engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
        engine.ingest("transactions", write(tmp_path / "t.csv", TRANSACTIONS_CSV))
        at = datetime(2024, 1, 10, tzinfo=UTC)  # C1 and C2 buy within 90 days, C3 only refunds (amount -20)
        rows = [Assignment("t", "C1", "a", 1, at), Assignment("t", "C2", "b", 2, at), Assignment("t", "C3", "b", 3, at)]
        with write_transaction(engine.online) as conn:
            records.record(conn, rows)
        now = datetime(2024, 12, 1, tzinfo=UTC)
        assert variant_posteriors(engine.offline, engine.online, engine.settings, now) == {
            "t:a": (2.0, 1.0),
            "t:b": (2.0, 2.0),
        }
    finally:
        engine.close()
