"""The fatigue model recovers a known discrete-time hazard; its person-periods are counted from the hub's contacts
in SQL, equal to the pandas reference (tests/fatigue_reference.py), and the counts give the fit of the rows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cvm.config.plans import PlansConfig
from cvm.contracts.learned import FatigueCurve, Learned
from cvm.models.base import FormatError
from cvm.models.fatigue import ADVERSE_TOPICS, FatigueModel
from cvm.plans.fatigue_sql import contact_periods_sql, fatigue_counts_sql
from cvm.plans.learned_file import FATIGUE_FILE, load_learned, refit_fatigue
from cvm.store.backend import DuckDBBackend
from tests.fatigue_reference import contact_periods, contacts_backend


def _true_logit(n: np.ndarray, x: np.ndarray) -> np.ndarray:
    return -4.0 + 0.45 * (np.minimum(n, 8) - 1) + 0.6 * x


def _simulate(customers: int, seed: int) -> pd.DataFrame:
    """Each customer gets up to 8 e-mails in a window; an adverse reaction ends their risk set."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=customers)
    planned = rng.integers(1, 9, customers)
    n = np.arange(1, 9)[None, :]
    hit = rng.random((customers, 8)) < 1 / (1 + np.exp(-_true_logit(n, x[:, None])))
    first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 99)
    last = np.minimum(planned, first)
    keep = n <= last[:, None]
    cid, rank = np.nonzero(keep)
    return pd.DataFrame(
        {"customer_id": cid, "channel": "email", "n": rank + 1, "adverse": rank + 1 == first[cid], "tenure": x[cid]}
    )


def test_it_recovers_the_hazard_curve_and_the_covariate_effect() -> None:
    periods = _simulate(30_000, 1)
    model = FatigueModel(max_contacts=8, covariates=("tenure",), penalty_c=100.0).fit(periods)
    for n in range(1, 9):
        truth = 1 / (1 + math.exp(-float(_true_logit(np.array(n), np.array(0.0)))))
        got = model.hazard("email", n, {"tenure": float(periods["tenure"].mean())})
        assert got == pytest.approx(truth, rel=0.25, abs=0.004), n
    assert model.coefficients_["email"]["tenure"] == pytest.approx(0.6, abs=0.1)
    assert model.hazard("email", 8) > 3 * model.hazard("email", 1)  # the marginal contact costs more


def test_the_curve_prices_the_contact_and_reaches_decide_as_plain_data() -> None:
    model = FatigueModel(covariates=("tenure",)).fit(_simulate(3_000, 2))
    curve = model.curve("email", loss=20.0)
    assert curve.cost(3, {"tenure": 0.0}) == pytest.approx(20.0 * curve.hazard(3, {"tenure": 0.0}))
    learned = Learned(fatigue=model.curves({"email": 20.0}))
    assert Learned.from_dict(learned.to_dict()) == learned
    assert learned.fatigue_cost("sms", 5) == 0.0  # no curve: no fatigue
    again = FatigueModel.from_dict(model.to_dict())
    assert again.curve("email", 20.0) == curve
    with pytest.raises(FormatError):
        FatigueModel.from_dict({**model.to_dict(), "model": "churn"})


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ValueError, match="adverse"):
        FatigueModel().fit(pd.DataFrame({"channel": ["email"], "n": [1]}))
    with pytest.raises(ValueError, match="max_contacts"):
        FatigueModel(max_contacts=0).fit(_simulate(10, 3))
    assert FatigueCurve().cost(4) == 0.0


def _store(tmp_path: Path, rows: list[tuple[str, pd.Timestamp, str | None, str, str]]) -> DuckDBBackend:
    return contacts_backend(tmp_path / "ws", rows)


def _periods(backend: DuckDBBackend, **kwargs: int) -> pd.DataFrame:
    sql = contact_periods_sql(**kwargs) + " ORDER BY customer_id, channel, ts"
    return backend.query(sql).to_pandas()


def test_person_periods_from_the_hub_contacts(tmp_path: Path) -> None:
    t = pd.Timestamp("2026-05-01", tz="UTC")
    day = pd.Timedelta(days=1)
    rows: list[tuple[str, pd.Timestamp, str | None, str, str]] = [
        ("a", t, "email", "outbound", "news"),
        ("a", t + 2 * day, "email", "outbound", "offer"),
        ("a", t + 4 * day, "phone", "inbound", "complaint"),  # within 7 days of the second e-mail
        ("a", t + 40 * day, "email", "outbound", "news"),  # a new window: n = 1
        ("a", t + 70 * day, "email", "outbound", "news"),  # exactly 30 days later: the window starts after it
        ("b", t, "sms", "outbound", "x"),
        ("b", t + day, "sms", "outbound", "x"),
        ("b", t + 2 * day, "sms", "outbound", "x"),  # third unanswered in a row
        ("b", t + 3 * day, "phone", "inbound", "service"),
        ("b", t + 4 * day, "sms", "outbound", "x"),
        ("b", t + 4 * day, "sms", "outbound", "y"),  # the same instant: the two count each other
    ]
    got = _periods(_store(tmp_path, rows), window_days=30, attribution_days=7, no_response_streak=3)
    assert [(r.customer_id, r.channel, int(r.n), bool(r.adverse)) for r in got.itertuples()] == [
        ("a", "email", 1, True),  # the complaint 4 days later follows it too
        ("a", "email", 2, True),
        ("a", "email", 1, False),
        ("a", "email", 1, False),
        ("b", "sms", 1, False),
        ("b", "sms", 2, False),
        ("b", "sms", 3, True),
        ("b", "sms", 5, False),  # the 4th and 5th at the same instant: each counts the other
        ("b", "sms", 5, False),
    ]
    with pytest.raises(ValueError, match="window_days"):
        contact_periods_sql(window_days=0)


def test_the_sql_periods_equal_the_pandas_reference_on_random_contacts(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    t0, rows = pd.Timestamp("2026-01-01", tz="UTC"), []
    topics = ["news", "offer", *ADVERSE_TOPICS, "service"]
    for i in range(400):
        for _ in range(int(rng.integers(1, 25))):
            ts = t0 + pd.Timedelta(microseconds=int(rng.integers(0, 180 * 86_400_000_000)))
            direction = "outbound" if rng.random() < 0.7 else "inbound"
            rows.append((f"c{i}", ts, str(rng.choice(["email", "sms", "phone"])), direction, str(rng.choice(topics))))
    backend = _store(tmp_path, rows)
    got = _periods(backend, window_days=30, attribution_days=7, no_response_streak=3)
    contacts = pd.DataFrame(rows, columns=["customer_id", "ts", "channel", "direction", "topic"])
    want = contact_periods(contacts, window_days=30, attribution_days=7, no_response_streak=3)
    want = want.sort_values(["customer_id", "channel", "ts"], kind="stable").reset_index(drop=True)
    assert len(got) == len(want) > 3_000
    assert got["n"].tolist() == want["n"].tolist()
    assert got["adverse"].tolist() == want["adverse"].tolist()
    assert 0.05 < want["adverse"].mean() < 0.95  # both kinds of rows occur
    # the counts the model fits on give the fit of the rows they count
    config = PlansConfig()
    counts = backend.query(fatigue_counts_sql(max_contacts=config.fatigue.max_contacts)).to_pandas()
    assert counts["weight"].sum() == len(want)
    by_rows = FatigueModel(max_contacts=config.fatigue.max_contacts).fit(want)
    by_counts = FatigueModel(max_contacts=config.fatigue.max_contacts).fit(counts)
    assert by_counts.contacts_ == by_rows.contacts_
    for channel, logits in by_rows.logits_.items():
        assert by_counts.logits_[channel] == pytest.approx(logits, abs=1e-4)


def test_the_workspace_file_round_trips_and_a_bad_one_is_ignored(tmp_path: Path) -> None:
    t = pd.Timestamp("2026-05-01", tz="UTC")
    rows = [(f"c{i}", t + pd.Timedelta(days=k), "email", "outbound", "news") for i in range(40) for k in range(4)]
    rows += [(f"c{i}", t + pd.Timedelta(days=4), "phone", "inbound", "complaint") for i in range(0, 40, 5)]
    backend = _store(tmp_path, rows)
    config = PlansConfig()
    assert load_learned(tmp_path, config) == Learned()  # nothing fitted yet: no fatigue
    model = refit_fatigue(tmp_path, backend, config)
    assert model is not None
    learned = load_learned(tmp_path, config)
    assert learned.fatigue["email"] == model.curve("email", config.fatigue.loss["email"])
    assert refit_fatigue(tmp_path / "empty", _store(tmp_path / "none", []), config) is None
    (tmp_path / FATIGUE_FILE).write_text('{"model": "churn"}', encoding="utf-8")
    assert load_learned(tmp_path, config) == Learned()
