"""The batch statements of real-time ingestion store exactly what SQLAlchemy Core stores.

``cvm.store.bulk`` bypasses Core's per-row parameter handling (tuples on SQLite, ``COPY``
and ``json_to_recordset`` on PostgreSQL, each insert path tested); these tests write the same rows both ways on
each backend and compare what the database holds, byte for byte where the driver lets us.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from cvm.events.profile import OnlineProfile, StaleProfileError, current_versions, load_profiles, save_profiles
from cvm.store import OnlineStore, bulk
from cvm.store.tables import action_requests, customer_online, event_log, suppressions

NOW = datetime(2025, 3, 4, 10, 30, 15, 123456, tzinfo=UTC)
ODD = "C,1 'quoted' \"double\" \\ ; é 中 \t tab"  # separators, quotes, escapes and non-ASCII


@pytest.fixture(autouse=True, params=["copy", "insert"])
def plain_insert_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """PostgreSQL stores plain rows by ``COPY`` from ``bulk.COPY_MIN_ROWS`` rows up, else by ``INSERT``: test both."""
    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 1 if request.param == "copy" else 10**9)
    return str(request.param)


@pytest.fixture
def store(online_url: str) -> Iterator[OnlineStore]:
    s = OnlineStore(online_url)
    s.migrate()
    yield s
    s.dispose()


def _raw(conn: sa.Connection, table: sa.Table, order: str, skip: tuple[str, ...] = ("id",)) -> list[tuple[Any, ...]]:
    """The stored rows as the driver returns them (text of dates and JSON on SQLite)."""
    names = ", ".join(c.name for c in table.columns if c.name not in skip)
    return [tuple(r) for r in conn.exec_driver_sql(f"SELECT {names} FROM {table.name} ORDER BY {order}")]


def _both_ways(store: OnlineStore, table: sa.Table, rows: list[dict[str, Any]], order: str) -> None:
    """Insert ``rows`` with Core, then with :func:`bulk.insert`, and compare the stored rows."""
    with store.begin() as conn:
        conn.execute(table.insert(), rows)
        core = _raw(conn, table, order)
        conn.execute(table.delete())
        bulk.insert(conn, table, rows)
        assert _raw(conn, table, order) == core
        conn.execute(table.delete())


def _events() -> list[dict[str, Any]]:
    zone = timezone(timedelta(hours=2))
    return [
        {
            "event_id": f"e{i}-{ODD}",
            "customer_id": ODD if i % 2 else f"C{i}",
            "type": "transaction",
            "ts": NOW - timedelta(days=i, microseconds=i) if i % 3 else (NOW + timedelta(hours=i)).astimezone(zone),
            "properties": {"amount": 10.5 * i, "product": ODD, "nested": {"list": [1, None, True]}},
            "received_at": NOW,
            "result": {"actions": [{"id": i, "not_before": NOW.isoformat()}], "suppressed": []},
        }
        for i in range(5)
    ]


def test_event_log_rows_are_stored_as_core_stores_them(store: OnlineStore) -> None:
    _both_ways(store, event_log, _events(), "event_id")


def test_suppressions_and_outbox_rows_are_stored_as_core_stores_them(store: OnlineStore) -> None:
    held = [
        {"customer_id": ODD, "at": NOW, "plan": "p", "step": None, "channel": "email", "reason": ODD,
         "deferred_until": None if i % 2 else NOW + timedelta(hours=i), "event_id": f"e{i}"}
        for i in range(4)
    ]  # fmt: skip
    _both_ways(store, suppressions, held, "event_id")
    actions = [
        {"customer_id": ODD, "plan": "p", "step": "s", "action": "p.s", "channel": "email", "objective": "inform",
         "offer": None if i % 2 else ODD, "expected_value": [1.25, 0.0, -3.5, 1e-7][i], "priority": i,
         "idempotency_key": f"k{i}", "reasons": [ODD, "x"], "event_id": None, "created_at": NOW,
         "not_before": None, "status": "pending", "attempts": 0, "next_attempt_at": NOW + timedelta(days=i)}
        for i in range(4)
    ]  # fmt: skip
    _both_ways(store, action_requests, actions, "idempotency_key")


def test_outbox_insert_skips_existing_keys_and_returns_new_ids(store: OnlineStore) -> None:
    row = {
        "customer_id": "C1", "plan": "p", "step": "s", "action": "p.s", "channel": "email", "objective": None,
        "offer": None, "expected_value": math.nan, "priority": 0, "reasons": [], "event_id": None, "created_at": NOW,
        "not_before": None, "status": "pending", "attempts": 0, "next_attempt_at": NOW,
    }  # fmt: skip
    pg = store.backend == "postgresql"
    back = ("idempotency_key", "id") if pg else ()
    with store.begin() as conn:
        bulk.insert(conn, action_requests, [{**row, "idempotency_key": "a"}])
        both = [{**row, "idempotency_key": k} for k in "ab"]
        made = bulk.insert(conn, action_requests, both, skip_conflicts_on="idempotency_key", returning=back)
        stored = dict(conn.execute(sa.select(action_requests.c.idempotency_key, action_requests.c.id)).all())
        value = conn.execute(sa.select(action_requests.c.expected_value)).scalars().first()
    assert sorted(stored) == ["a", "b"]
    assert made == ([("b", stored["b"])] if pg else [])
    assert value is None if not pg else math.isnan(value)  # SQLite keeps NaN as NULL, as it does through Core


def test_a_duplicate_key_fails_the_batch_as_an_integrity_error(store: OnlineStore) -> None:
    rows = _events()[:2]
    with store.begin() as conn:
        bulk.insert(conn, event_log, rows)
    with pytest.raises(sa.exc.IntegrityError), store.begin() as conn:
        bulk.insert(conn, event_log, [_events()[2], rows[1]])
    with store.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(event_log)).scalar_one() == 2


def _profile(cid: str, **changes: Any) -> OnlineProfile:
    p = OnlineProfile(cid, first_event_at=NOW, last_event_at=NOW + timedelta(seconds=1), event_count=2)
    p.features = {"online_revenue": 12.5, "last_purchase_at": NOW.isoformat()}
    p.plan_state = {"welcome": {"status": "active", "started": NOW.isoformat(), "step": 1}}
    p.consents = {"email": True}
    for key, value in changes.items():
        setattr(p, key, value)
    return p


def test_profiles_round_trip_and_stale_versions_are_refused(store: OnlineStore) -> None:
    ids = [ODD, "C2", "C3"]
    with store.begin() as conn:
        save_profiles(conn, [_profile(c) for c in ids], NOW)
        core = _raw(conn, customer_online, "customer_id", skip=())
        conn.execute(customer_online.delete())
        conn.execute(customer_online.insert(), [{**_profile(c).row(NOW)} for c in ids])
        assert _raw(conn, customer_online, "customer_id", skip=()) == core
    with store.begin() as conn:
        loaded = load_profiles(conn, [*ids, "missing"], lock=True)
        assert sorted(loaded) == sorted(ids)
        assert loaded[ODD] == _profile(ODD, version=1)
        assert current_versions(conn, ids) == dict.fromkeys(ids, 1)
        loaded["C2"].open_complaint = True
        save_profiles(conn, [loaded["C2"], loaded["C3"]], NOW)
        assert current_versions(conn, ids) == {ODD: 1, "C2": 2, "C3": 2}
        assert load_profiles(conn, ["C2"])["C2"].open_complaint is True
    with pytest.raises(StaleProfileError), store.begin() as conn:
        save_profiles(conn, [_profile("C2", version=1)], NOW)  # read at version 1, stored at 2
