"""Segments: the attribute base from the hub tables, life-cycle stages, VIP, value × risk, membership history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from cvm.config import ConfigError, Settings, load_settings
from cvm.config.plan_checks import attribute_catalog
from cvm.config.plan_defaults import BASE_ATTRIBUTES
from cvm.config.plans import SegmentsConfig
from cvm.segments import SegmentModel, base_columns, build_base, refresh_segments, segment_base
from cvm.store import OfflineStore

AS_OF = date(2025, 6, 30)


def _ts(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


def _customers() -> pl.DataFrame:
    rows = [
        ("A", "2025-06-27", "1990-07-02", "Europe/Paris"),
        ("B", "2024-07-05", None, "UTC"),
        ("C", "2020-01-01", None, "UTC"),
        ("D", "2020-01-01", None, "UTC"),
        ("E", "2020-01-01", None, "America/New_York"),
        ("F", "2020-01-01", None, "UTC"),
        ("G", "2025-07-05", None, "UTC"),
    ]
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "acquired_at": [date.fromisoformat(r[1]) for r in rows],
            "birth_date": [date.fromisoformat(r[2]) if r[2] else None for r in rows],
            "timezone": [r[3] for r in rows],
            "kind": ["B2C", "B2C", "B2C", "B2B", "B2B", "B2C", "B2C"],
            "consent_email": [True] * 7,
        }
    )


def _transactions() -> pl.DataFrame:
    buys = {
        "B": ["2025-02-01", "2025-03-03", "2025-04-02", "2025-05-02", "2025-06-01"],
        "C": ["2023-01-01", "2025-05-01"],
        "D": ["2024-01-01"],
        "F": ["2024-09-01", "2024-09-06", "2024-12-15", "2024-12-25", "2025-02-24"],
    }
    rows = [(cid, _ts(d), 100.0) for cid, days in buys.items() for d in days]
    rows += [("B", _ts("2025-06-30"), 50.0), ("C", _ts("2025-05-02"), -20.0)]  # on as_of: not yet known; a refund
    return pl.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "ts": [r[1] for r in rows],
            "amount": [r[2] for r in rows],
            "margin": [r[2] * 0.3 for r in rows],
        }
    )


def _scores() -> pl.DataFrame:
    rows = [
        ("E", "clv", 900.0, "high"),
        ("E", "p_alive", 0.9, None),
        ("F", "clv", 1000.0, "high"),
        ("F", "p_alive", 0.2, None),
        ("B", "clv", 50.0, "low"),
    ]
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "as_of": [AS_OF] * len(rows),
            "score": [r[1] for r in rows],
            "value": [r[2] for r in rows],
            "grade": [r[3] for r in rows],
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> OfflineStore:
    st = OfflineStore(tmp_path / "offline")
    st.create()
    with st.transaction() as tx:
        tx.append("customers", _customers())
        tx.append("transactions", _transactions())
        tx.append(
            "subscriptions",
            pl.DataFrame({"subscription_id": ["s1"], "customer_id": ["E"], "product": ["pro"],
                          "start": [date(2023, 7, 10)], "end": [None], "mrr": [50.0]}),
        )  # fmt: skip
        tx.append(
            "payments",
            pl.DataFrame({"invoice_id": ["i1", "i2"], "customer_id": ["E", "E"],
                          "due_date": [date(2025, 6, 1), date(2025, 5, 1)], "paid_date": [None, date(2025, 5, 2)],
                          "amount": [10.0, 10.0]}),
        )  # fmt: skip
        tx.append(
            "contacts",
            pl.DataFrame({"contact_id": ["k1"], "customer_id": ["E"], "ts": [_ts("2025-06-20")], "channel": ["phone"],
                          "direction": ["inbound"], "topic": ["complaint"], "outcome": ["open"]}),
        )  # fmt: skip
        tx.append(
            "surveys",
            pl.DataFrame({"customer_id": ["E", "E"], "ts": [_ts("2025-01-01"), _ts("2025-06-01")], "nps": [4, 9]}),
        )
        tx.append("scores", _scores())
    return st


def _base(store: OfflineStore, cfg: SegmentsConfig | None = None) -> dict[str, dict[str, Any]]:
    cfg = cfg or SegmentsConfig()
    con = store.connect()
    con.execute("SET TimeZone = 'UTC'")
    segment_base(con, cfg, AS_OF)
    rows = con.sql("SELECT * FROM segmented").pl().to_dicts()
    return {r["customer_id"]: r for r in rows}


def test_attribute_base_columns_match_the_catalogue(store: OfflineStore) -> None:
    cfg = SegmentsConfig()
    con = store.connect()
    build_base(con, cfg, AS_OF)
    cols = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE attrs)").fetchall()]
    assert cols == base_columns(cfg)
    catalog = attribute_catalog(cfg)
    assert set(cols) <= set(catalog)
    assert set(BASE_ATTRIBUTES) <= set(cols)


def test_attributes_point_in_time(store: OfflineStore) -> None:
    rows = _base(store)
    assert "G" not in rows  # acquired after as_of
    a, b, c, e = rows["A"], rows["B"], rows["C"], rows["E"]
    assert (a["tenure_days"], a["days_to_birthday"], a["orders"], a["days_since_last_purchase"]) == (3, 2, 0, None)
    assert (b["days_to_anniversary"], b["orders"], b["revenue"]) == (5, 5, 500.0)  # the as_of purchase is not known
    assert b["is_regular_buyer"] is True
    assert (b["mean_gap_days"], b["purchase_cv"], b["days_to_next_order"]) == (30.0, 0.0, 1.0)
    assert c["days_since_reactivation"] == 60
    assert c["revenue"] == 180.0
    assert rows["F"]["is_regular_buyer"] is False
    assert rows["F"]["purchase_cv"] > 0.5
    assert (e["mrr"], e["active_subscriptions"], e["days_to_renewal"], e["days_inactive"]) == (50.0, 1, 10, 0)
    assert (e["late_payments"], e["days_past_due"], e["open_complaint"], e["nps"]) == (1, 29, True, 9)
    assert (e["value"], e["value_grade"], e["risk_grade"]) == (900.0, "high", "low")
    assert rows["F"]["risk_grade"] == "high"


def test_stages_vip_and_matrix(store: OfflineStore) -> None:
    rows = _base(store)
    stages = {cid: r["stage"] for cid, r in rows.items()}
    assert stages == {"A": "new", "B": "active", "C": "won_back", "D": "lapsed", "E": "active", "F": "at_risk"}
    assert {cid for cid, r in rows.items() if r["seg_vip"]} == {"E", "F"}
    assert rows["F"]["value_risk"] == "high/high"
    assert rows["A"]["value_risk"] is None


def test_named_segments_read_other_segments(store: OfflineStore) -> None:
    cfg = SegmentsConfig.model_validate(
        {"definitions": {"vip_at_risk": {"when": "seg_vip and stage = 'at_risk'"}, "b2b": {"when": "kind = 'B2B'"}}}
    )
    rows = _base(store, cfg)
    assert {cid for cid, r in rows.items() if r["seg_vip_at_risk"]} == {"F"}
    assert {cid for cid, r in rows.items() if r["seg_b2b"]} == {"D", "E"}


def test_sql_and_in_process_agree_on_random_attributes() -> None:
    cfg = SegmentsConfig.model_validate({"definitions": {"big": {"when": "not seg_vip and coalesce(mrr, 0) > 50"}}})
    model = SegmentModel(cfg)
    rng = np.random.default_rng(7)
    n = 400

    def maybe(values: Any) -> list[Any]:
        return [None if rng.random() < 0.2 else v for v in values]

    frame = pl.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "tenure_days": maybe(rng.integers(0, 800, n).tolist()),
            "days_since_reactivation": maybe(rng.integers(0, 200, n).tolist()),
            "days_inactive": maybe(rng.integers(0, 500, n).tolist()),
            "churn_grade": maybe(rng.choice(["low", "medium", "high"], n).tolist()),
            "risk_grade": maybe(rng.choice(["low", "medium", "high"], n).tolist()),
            "value_grade": maybe(rng.choice(["low", "medium", "high"], n).tolist()),
            "growth_grade": maybe(rng.choice(["low", "medium", "high"], n).tolist()),
            "default_grade": maybe(rng.choice(["low", "high"], n).tolist()),
            "days_past_due": maybe(rng.integers(0, 60, n).tolist()),
            "mrr": maybe(rng.uniform(0, 100, n).round(1).tolist()),
        },
        strict=False,
    )
    import duckdb

    con = duckdb.connect()
    con.register("attrs", frame.to_arrow())
    got = con.sql(model.select("attrs")).pl().to_dicts()
    for row in got:
        expected = model.evaluate(row)
        assert {k: row[k] for k in expected} == expected


def test_cycles_are_refused_at_config_load() -> None:
    with pytest.raises(Exception, match="cycle"):
        Settings.model_validate({"segments": {"definitions": {"a": {"when": "seg_b"}, "b": {"when": "seg_a"}}}})


def test_bad_segment_expression_names_key_and_position(tmp_path: Path) -> None:
    (tmp_path / "cvm.yaml").write_text('segments:\n  definitions:\n    rich:\n      when: "revenu > 100"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, {})
    text = str(info.value)
    assert "segments.definitions.rich.when" in text
    assert "unknown column 'revenu'" in text
    assert "did you mean revenue" in text
    assert "column 1" in text


def test_refresh_keeps_history_and_reports_transitions(store: OfflineStore) -> None:
    cfg = SegmentsConfig()
    first = refresh_segments(store, cfg, date(2025, 6, 1))
    assert first.previous_as_of is None
    assert first.entered == {}
    second = refresh_segments(store, cfg, AS_OF)
    assert second.previous_as_of == date(2025, 6, 1)
    moves = {(r["customer_id"], r["segment"], r["change"]) for r in second.transitions.to_dicts()}
    assert ("A", "stage:new", "entered") in moves  # acquired after the first refresh
    assert second.counts["stage:active"] == 2
    assert second.counts["vip"] == 2
    stored = store.read("segment_membership")
    assert set(stored["as_of"].unique().to_list()) == {date(2025, 6, 1), AS_OF}
    again = refresh_segments(store, cfg, AS_OF)
    assert store.count("segment_membership") == stored.height
    assert again.counts == second.counts


def test_engine_and_cli(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from cvm.cli.main import app
    from cvm.engine import Engine

    ws = tmp_path / "ws"
    engine = Engine.init(ws)
    with engine.offline.transaction() as tx:
        tx.append("customers", _customers())
        tx.append("transactions", _transactions())
        tx.append("scores", _scores())
    runner = CliRunner()
    out = runner.invoke(app, ["segments", "refresh", "-w", str(ws), "--as-of", "2025-06-30", "--json"])
    assert out.exit_code == 0, out.output
    refreshed = json.loads(out.output)
    assert refreshed["customers"] == 6
    assert {"segment": "vip", "customers": 2, "entered": 0, "left": 0} in refreshed["segments"]
    listed = json.loads(runner.invoke(app, ["segments", "list", "-w", str(ws), "--json"]).output)
    assert listed["as_of"] == "2025-06-30"
    assert {r["segment"]: r["customers"] for r in listed["data"]}["stage:new"] == 1
    shown = json.loads(runner.invoke(app, ["segments", "show", "new", "-w", str(ws), "--json"]).output)
    assert shown["segment"] == "stage:new"
    assert shown["members"] == ["A"]
    assert "CASE WHEN" in shown["sql"]
    bad = runner.invoke(app, ["segments", "show", "nope", "-w", str(ws)])
    assert bad.exit_code == 2
    assert "unknown segment 'nope'" in bad.output
    batch = engine.plans.plan_batch(AS_OF, datetime(2025, 6, 30, 9, tzinfo=UTC))
    assert batch.customers == 6
    assert batch.actions["welcome.inform (email)"] == 1  # A: new, with e-mail consent


def test_a_second_refresh_of_a_date_replaces_only_its_partition(store: OfflineStore) -> None:
    cfg, before = SegmentsConfig(), date(2025, 6, 1)
    refresh_segments(store, cfg, before)
    refresh_segments(store, cfg, AS_OF)
    kept, replaced = store.files("segment_membership", before), store.files("segment_membership", AS_OF)
    rows_before = store.read("segment_membership", partition=before).sort("customer_id", "segment")
    first = store.read("segment_membership", partition=AS_OF).sort("customer_id", "segment")
    refresh_segments(store, cfg, AS_OF)
    assert store.files("segment_membership", before) == kept  # the other date is neither rewritten nor moved
    assert store.read("segment_membership", partition=before).sort("customer_id", "segment").equals(rows_before)
    assert not set(store.files("segment_membership", AS_OF)) & set(replaced)  # its own date: new parts only
    assert store.read("segment_membership", partition=AS_OF).sort("customer_id", "segment").equals(first)
    assert store.partitions("segment_membership") == [before.isoformat(), AS_OF.isoformat()]
