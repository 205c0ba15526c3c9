"""Cost to serve, net margin and net CLV on a small hub computed by hand (exact cents), from the value inputs' query
priced per batch (:func:`cvm.scoring.value_batch.costs_of`)."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from cvm.config import Settings
from cvm.config.settings import CostToServeSettings, ScoringSettings
from cvm.scoring.cost_to_serve import add_net_clv, annuity_months, net_reasons
from cvm.scoring.reasons import sentences
from cvm.scoring.value_batch import costs_of
from cvm.scoring.value_inputs import value_inputs_sql
from cvm.store import OfflineStore
from cvm.store.backend import DuckDBBackend

AS_OF = date(2025, 6, 30)
PRICES = {"email": 0.01, "phone": 4.0}  # as plans.policy.channel_cost


def _ts(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 12, tzinfo=UTC)


def _frames() -> dict[str, pl.DataFrame]:
    customers = pl.DataFrame(
        {
            "customer_id": ["A", "B", "C"],
            "kind": ["B2C"] * 3,
            "acquired_at": [date(2020, 1, 1), date(2025, 3, 30), date(2024, 1, 1)],
        }
    )
    tx = pl.DataFrame(
        {
            "customer_id": ["A", "A", "B", "C"],
            # A's first purchase is on the window's first excluded day; C's is after as_of
            "ts": [_ts(2024, 6, 30), _ts(2025, 1, 10), _ts(2025, 5, 1), _ts(2025, 7, 1)],
            "amount": [100.0, 200.0, 50.0, 80.0],
            "margin": [30.0, None, 10.0, 20.0],
        }
    )
    subs = pl.DataFrame(
        schema={"customer_id": pl.Utf8, "product": pl.Utf8, "start": pl.Date, "end": pl.Date, "mrr": pl.Float64}
    )
    contacts = pl.DataFrame(
        {
            "customer_id": ["A", "A", "A", "B", "B"],
            "ts": [_ts(2025, 1, 1), _ts(2025, 2, 1), _ts(2025, 3, 1), _ts(2025, 4, 1), _ts(2025, 4, 2)],
            "channel": ["phone", "email", "chat", "phone", "email"],
            "topic": ["complaint", "payment_reminder", None, "question", "payment_reminder"],
        }
    )
    payments = pl.DataFrame(
        {
            "customer_id": ["A", "B", "B"],
            "due_date": [date(2025, 2, 1), date(2025, 1, 10), date(2025, 6, 1)],
            "paid_date": [date(2025, 2, 10), None, date(2025, 5, 30)],
            "amount": [200.0, 80.0, 50.0],
        }
    )
    n_tx, n_contacts = tx.height, contacts.height
    return {
        "customers": customers,
        "transactions": tx.with_columns(pl.Series("transaction_id", map(str, range(n_tx)))),
        "subscriptions": subs,
        "contacts": contacts.with_columns(pl.Series("contact_id", map(str, range(n_contacts)))),
        "payments": payments.with_columns(pl.Series("invoice_id", ["i1", "i2", "i3"])),
    }


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> OfflineStore:
    store = OfflineStore(tmp_path_factory.mktemp("costs") / "offline")
    store.create()
    with store.transaction() as tx:
        for table, frame in _frames().items():
            if frame.height:
                tx.append(table, frame)
    return store


def cost_to_serve(
    store: OfflineStore, s: CostToServeSettings, channel_cost: dict[str, float], margin_rate: float
) -> pd.DataFrame:
    """The cost columns of every customer known at ``AS_OF``, as ``cvm score`` prices them."""
    settings = ScoringSettings(margin_rate=margin_rate, cost_to_serve=s)
    inputs = pl.from_arrow(DuckDBBackend(store).query(value_inputs_sql(AS_OF, settings, channel_cost)))
    assert isinstance(inputs, pl.DataFrame)
    return costs_of(AS_OF, settings, inputs.sort("customer_id"))


def test_cost_to_serve_and_net_margin_by_hand(hub: OfflineStore) -> None:
    t = cost_to_serve(hub, CostToServeSettings(), PRICES, margin_rate=0.3)
    # A: margin 200 × 0.3 = 60 (the 2024-06-30 purchase is 365 days old: outside); contacts phone 4 + email 0.01
    # + chat (priced nowhere) 1 = 5.01; complaint 15; reminder 2; one invoice paid 9 days late 5 → 27.01
    a = t.loc["A"]
    assert (a.margin_12m, a.contact_n, a.complaint_n, a.reminder_n, a.late_n) == (60.0, 3, 1, 1, 1)
    assert a.contact_cost == 5.01
    assert a.cost_to_serve_12m == 27.01
    assert a.net_margin_12m == 32.99
    assert a.cost_months == 12.0
    # B: margin 10; contacts 4.01 + reminder 2; the invoice due 2025-01-10 is late (5) and unpaid 171 days,
    # past the 90-day bad-debt limit: 80 lost; the one paid before its due date costs nothing → 91.01
    b = t.loc["B"]
    assert b.cost_to_serve_12m == 91.01
    assert b.net_margin_12m == -81.01
    assert b.bad_debt_cost == 80.0
    assert b.cost_months == pytest.approx(92 * 12 / 365)  # a customer for 92 days of the window
    # C bought after as_of only, and cost nothing
    assert (t.loc["C"].margin_12m, t.loc["C"].cost_to_serve_12m) == (0.0, 0.0)


def test_configured_prices_override_the_channel_cost_and_half_of_a_bad_debt_counts(hub: OfflineStore) -> None:
    s = CostToServeSettings(contact={"phone": 6.0, "chat": 0.5}, complaint=20.0, bad_debt_share=0.5)
    t = cost_to_serve(hub, s, PRICES, margin_rate=0.3)
    assert t.loc["A"].cost_to_serve_12m == 33.51  # 6 + 0.01 + 0.5 + 20 + 2 + 5
    assert t.loc["B"].cost_to_serve_12m == 53.01  # 6 + 0.01 + 2 + 5 + 80 × 0.5


def test_net_clv_is_clv_less_the_discounted_expected_cost(hub: OfflineStore) -> None:
    t = cost_to_serve(hub, CostToServeSettings(), PRICES, margin_rate=0.3)
    t = t.assign(clv=[500.0, 100.0, 0.0], p_alive=[0.5, None, 0.9])
    undiscounted = add_net_clv(t, horizon_months=12, monthly_rate=0.0)
    # A: 27.01 a year is 27.01 / 12 a month, × P(alive) 0.5 × 12 months = 13.505
    assert undiscounted.loc["A"].expected_cost == pytest.approx(13.505)
    assert undiscounted.loc["A"].net_clv == pytest.approx(486.495)
    # B costs 91.01 over 92 days: 91.01 / (92 / 30.4167) a month, P(alive) unknown → 1, × 12 months
    assert undiscounted.loc["B"].net_clv == pytest.approx(100.0 - 91.01 / (92 * 12 / 365) * 12)
    assert undiscounted.loc["B"].net_clv < 0
    discounted = add_net_clv(t, horizon_months=12, monthly_rate=0.01)
    assert annuity_months(12, 0.01) == pytest.approx(sum(1.01**-m for m in range(1, 13)))
    assert discounted.loc["A"].expected_cost == pytest.approx(27.01 / 12 * 0.5 * annuity_months(12, 0.01))


def test_reasons_keep_the_components_and_read_as_sentences(hub: OfflineStore) -> None:
    t = cost_to_serve(hub, CostToServeSettings(), PRICES, margin_rate=0.3)
    t = add_net_clv(t.assign(clv=[500.0, 100.0, 0.0], p_alive=[0.5, None, 0.9]), 12, 0.0)
    frame = pl.from_pandas(t.reset_index())
    codes = frame.select(**net_reasons()).rows(named=True)
    a, c = codes[0], codes[2]
    assert a["cost_to_serve_12m"] == (
        "contacts 3;contact cost 5.01;complaints 1;complaint cost 15.0;reminders 1;reminder cost 2.0;"
        "late payments 1;late payment cost 5.0"
    )
    assert a["net_margin_12m"] == "gross margin 12m 60.0;cost to serve 27.01"
    assert c["cost_to_serve_12m"] == "no cost to serve"
    said = sentences(a["cost_to_serve_12m"]) + sentences(a["net_margin_12m"]) + sentences(a["net_clv"])
    assert not [s for s in said if s in a["cost_to_serve_12m"].split(";")]  # every code became a sentence
    assert said[:2] == ["was in contact 3 times over the last 12 months", "contacts cost €5.01"]


def test_settings_refuse_a_negative_cost_and_the_template_has_the_block() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"contact\.phone"):
        CostToServeSettings(contact={"phone": -1.0})
    with pytest.raises(ValidationError, match="complaint"):
        ScoringSettings(cost_to_serve={"complaint": -2})  # type: ignore[arg-type]
    from cvm.config import render_template

    assert "  cost_to_serve:\n    contact: {}\n    other_contact: 1.0" in render_template(Settings())


def test_what_happens_after_as_of_is_not_known_yet(hub: OfflineStore, tmp_path: Path) -> None:
    store = OfflineStore(tmp_path / "offline")
    shutil.copytree(hub.root, store.root)
    late_contact = pl.DataFrame(  # after as_of: not known yet
        {
            "customer_id": ["A"],
            "ts": [_ts(2025, 7, 1)],
            "channel": ["visit"],
            "topic": ["complaint"],
            "contact_id": ["late"],
        }
    )
    with store.transaction() as tx:
        tx.append("contacts", late_contact)
    loaded = cost_to_serve(store, CostToServeSettings(), PRICES, margin_rate=0.3)
    assert loaded["cost_to_serve_12m"].to_dict() == {"A": 27.01, "B": 91.01, "C": 0.0}
    assert loaded["net_margin_12m"].to_dict() == {"A": 32.99, "B": -81.01, "C": 0.0}
