"""Customers whose net CLV is negative: the built-in unprofitable plan, decided like any plan, and VIPs by net value."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pydantic import ValidationError

from cvm.config import Settings
from cvm.config.plans import SegmentsConfig
from cvm.contracts.decisions import CustomerState
from cvm.plans.decide import decide
from cvm.segments import segment_base
from cvm.store import OfflineStore

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
AS_OF = date(2025, 6, 30)


def _journey(attrs: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(day, step, objective) of every unprofitable-plan action over 90 days, with the real decide."""
    cfg = Settings().plans
    state: dict[str, Any] = {}
    sent: list[tuple[datetime, str, str]] = []
    out = []
    for day in range(0, 91, 5):
        now = NOW + timedelta(days=day)
        s = CustomerState("c1", attrs, {"email": True}, "UTC", tuple(sent), False, state)
        d = decide(cfg, s, now)
        out += [(day, a.step, a.objective) for a in d.actions if a.plan == "unprofitable"]
        sent += [(a.not_before, a.channel, a.objective) for a in d.actions]
        state = dict(d.plan_state)
    return out


def test_a_negative_net_clv_gets_the_unprofitable_steps_and_non_renewal_is_an_end() -> None:
    losing = {"net_clv": -250.0, "cost_to_serve_12m": 120.0, "active_subscriptions": 1, "tenure_days": 900}
    steps = _journey(losing)
    assert [s for _d, s, _o in steps] == ["self_service", "stop_discounts", "reprice", "non_renewal"]
    assert steps[-1][2] == "end"  # the outbox keeps it awaiting confirmation (tests/integration/test_confirm.py)
    assert _journey({**losing, "active_subscriptions": 0})[-1][1] == "reprice"  # no contract: nothing to end
    assert _journey({**losing, "net_clv": 10.0}) == []
    assert _journey({**losing, "net_clv": None}) == []  # not scored yet: not judged unprofitable


def test_the_plan_is_configurable_per_business() -> None:
    s = Settings.model_validate({"plans": {"definitions": {"unprofitable": {"enabled": False}}}})
    assert "unprofitable" not in s.plans.active
    moved = Settings.model_validate(
        {"plans": {"definitions": {"unprofitable": {"trigger": {"type": "condition", "when": "net_clv < -100"}}}}}
    )
    assert moved.plans.definitions["unprofitable"].trigger.when == "net_clv < -100"


@pytest.fixture
def store(tmp_path: Path) -> OfflineStore:
    st = OfflineStore(tmp_path / "offline")
    st.create()
    ids = ["A", "B", "C", "D", "E"]
    clv = [1000.0, 900.0, 300.0, 200.0, 100.0]
    net = [-50.0, 850.0, 290.0, 195.0, 90.0]  # A brings the most gross value but costs more than it brings
    rows = [(c, "clv", v) for c, v in zip(ids, clv, strict=True)]
    rows += [(c, "net_clv", v) for c, v in zip(ids, net, strict=True)]
    grade = {1000.0: "high", 900.0: "high", 850.0: "high", 290.0: "high"}
    with st.transaction() as tx:
        tx.append(
            "customers",
            pl.DataFrame({"customer_id": ids, "acquired_at": [date(2020, 1, 1)] * 5, "kind": ["B2C"] * 5}),
        )
        tx.append(
            "scores",
            pl.DataFrame(
                {
                    "customer_id": [r[0] for r in rows],
                    "as_of": [AS_OF] * len(rows),
                    "score": [r[1] for r in rows],
                    "value": [r[2] for r in rows],
                    "grade": [grade.get(r[2], "low") for r in rows],
                }
            ),
        )
    return st


def _vips(store: OfflineStore, cfg: SegmentsConfig) -> list[str]:
    con = store.connect()
    con.execute("SET TimeZone = 'UTC'")
    segment_base(con, cfg, AS_OF)
    return sorted(r[0] for r in con.execute("SELECT customer_id FROM segmented WHERE seg_vip").fetchall())


def test_vip_ranks_on_gross_clv_by_default_and_on_net_clv_when_asked(store: OfflineStore) -> None:
    assert _vips(store, SegmentsConfig()) == ["A", "B"]
    assert _vips(store, SegmentsConfig(value_score="net_clv")) == ["B", "C"]
    old = SegmentsConfig(scores=["clv", "p_alive"])  # a cvm.yaml written before: the net scores are read anyway
    assert old.scores[-4:] == ["margin_12m", "cost_to_serve_12m", "net_margin_12m", "net_clv"]
    with pytest.raises(ValidationError, match=r"value_score 'profit' is not in scores"):
        Settings.model_validate({"segments": {"value_score": "profit"}})
