"""Point-in-time features and labels: no leakage from after as_of, exact values on hand-made rows, Spark SQL."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
import sqlglot

from cvm.contracts import DATA_TABLES
from cvm.demo import generate
from cvm.features import FEATURES, build_features, feature_query
from cvm.features.labels import adoption_labels, adoption_sql, churn_labels, churn_sql, default_labels, default_sql
from cvm.features.sql import feature_blocks
from cvm.store import OfflineStore
from cvm.store.schema import conform

AS_OF = date(2024, 6, 1)
PRODUCTS = ["basic", "plus", "premium", "support"]


def _con(tables: dict[str, list[dict[str, Any]]]) -> duckdb.DuckDBPyConnection:
    """A connection with one view per hub table, typed as the offline store types them."""
    con = duckdb.connect()
    for name, schema in DATA_TABLES.items():
        rows = tables.get(name, [])
        frame = conform(pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame(), schema)
        con.register(f"_{name}", frame.to_arrow())
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM _{name}").fetchall()
    return con


def _ts(day: str) -> datetime:
    return datetime.fromisoformat(day + "T12:00:00+00:00")


# -- point in time on the demo company ------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(3_000, seed=11, out=out, end=date(2024, 12, 31))
    return out


def _demo_con(folder: Path, as_of: date | None = None) -> duckdb.DuckDBPyConnection:
    """Views over the demo files; with ``as_of``, everything unknown at that date is cut out."""
    con = duckdb.connect()
    cut = f"CAST('{as_of}' AS DATE)" if as_of else None
    censored = {
        "customers": f"WHERE acquired_at < {cut}",
        "transactions": f"WHERE CAST(ts AS DATE) < {cut}",
        "contacts": f"WHERE CAST(ts AS DATE) < {cut}",
        "surveys": f"WHERE CAST(ts AS DATE) < {cut}",
        "ratings": f"WHERE ts < {cut}",
    }
    for name in DATA_TABLES:
        src = f"read_parquet('{folder / name}.parquet')"
        if cut is None:
            sql = f"SELECT * FROM {src}"
        elif name == "payments":
            sql = (
                f"SELECT * REPLACE (CASE WHEN paid_date < {cut} THEN paid_date END AS paid_date) "
                f"FROM {src} WHERE due_date < {cut}"
            )
        elif name == "subscriptions":
            sql = (
                f'SELECT * REPLACE (CASE WHEN "end" < {cut} THEN "end" END AS "end", '
                f'CASE WHEN "end" < {cut} THEN end_reason END AS end_reason) FROM {src} WHERE start < {cut}'
            )
        else:
            sql = f"SELECT * FROM {src} {censored[name]}"
        con.execute(f"CREATE VIEW {name} AS {sql}").fetchall()
    return con


def test_features_ignore_everything_after_as_of(demo: Path) -> None:
    full = build_features(_demo_con(demo), AS_OF, products=PRODUCTS)
    censored = build_features(_demo_con(demo, AS_OF), AS_OF, products=PRODUCTS)
    assert full.height > 1_000
    assert full.equals(censored)


def test_rows_added_after_as_of_change_nothing() -> None:
    before = {
        "customers": [{"customer_id": "C1", "acquired_at": date(2023, 1, 1), "kind": "B2C"}],
        "transactions": [{"transaction_id": "T1", "customer_id": "C1", "ts": _ts("2024-05-01"), "amount": 10.0}],
        "payments": [{"invoice_id": "I1", "customer_id": "C1", "due_date": date(2024, 5, 1), "amount": 10.0}],
        "subscriptions": [
            {"subscription_id": "S1", "customer_id": "C1", "product": "basic", "start": date(2024, 1, 1), "mrr": 9.0}
        ],
    }
    after = {k: [dict(r) for r in v] for k, v in before.items()}
    after["payments"][0]["paid_date"] = date(2024, 6, 20)  # paid after as_of
    after["subscriptions"][0].update({"end": date(2024, 7, 1), "end_reason": "too_expensive"})
    after["customers"].append({"customer_id": "C2", "acquired_at": date(2024, 6, 1), "kind": "B2B"})
    after["transactions"].append({"transaction_id": "T2", "customer_id": "C1", "ts": _ts("2024-06-01"), "amount": 5.0})
    after["contacts"] = [{"contact_id": "K1", "customer_id": "C1", "ts": _ts("2024-06-02"), "channel": "phone"}]
    after["surveys"] = [{"customer_id": "C1", "ts": _ts("2024-06-03"), "nps": 2}]
    after["ratings"] = [{"customer_id": "C1", "ts": date(2024, 6, 1), "source": "x", "rating": "D", "score": 3.0}]
    assert build_features(_con(before), AS_OF).equals(build_features(_con(after), AS_OF))


# -- values on hand-made rows ---------------------------------------------------------------------


@pytest.fixture
def hand() -> duckdb.DuckDBPyConnection:
    return _con(
        {
            "customers": [
                {"customer_id": "A", "acquired_at": date(2023, 6, 1), "kind": "B2B", "sector": "retail"},
                {"customer_id": "B", "acquired_at": date(2024, 5, 1), "kind": "B2C", "region": "North"},
            ],
            "transactions": [
                {"transaction_id": "T1", "customer_id": "A", "ts": _ts("2024-05-20"), "amount": 100.0, "margin": 30.0},
                {"transaction_id": "T2", "customer_id": "A", "ts": _ts("2024-01-10"), "amount": 50.0, "margin": 10.0},
                {"transaction_id": "T3", "customer_id": "A", "ts": _ts("2024-05-25"), "amount": -20.0},
            ],
            "payments": [
                {"invoice_id": "I1", "customer_id": "A", "due_date": date(2024, 4, 2), "amount": 70.0},
                {
                    "invoice_id": "I2",
                    "customer_id": "A",
                    "due_date": date(2024, 1, 1),
                    "paid_date": date(2024, 1, 11),
                    "amount": 30.0,
                },
                {
                    "invoice_id": "I3",
                    "customer_id": "A",
                    "due_date": date(2024, 3, 1),
                    "paid_date": date(2024, 2, 20),
                    "amount": 30.0,
                },
                {
                    "invoice_id": "I4",
                    "customer_id": "A",
                    "due_date": date(2022, 1, 1),
                    "paid_date": date(2022, 5, 1),
                    "amount": 5.0,
                },
            ],
            "subscriptions": [
                {
                    "subscription_id": "S1",
                    "customer_id": "A",
                    "product": "plus",
                    "start": date(2024, 1, 1),
                    "mrr": 99.0,
                },
                {
                    "subscription_id": "S0",
                    "customer_id": "A",
                    "product": "basic",
                    "start": date(2023, 6, 1),
                    "end": date(2024, 1, 1),
                    "mrr": 49.0,
                },
            ],
            "contacts": [
                {
                    "contact_id": "K1",
                    "customer_id": "A",
                    "ts": _ts("2024-05-01"),
                    "channel": "phone",
                    "topic": "complaint",
                },
                {
                    "contact_id": "K2",
                    "customer_id": "A",
                    "ts": _ts("2024-02-01"),
                    "channel": "email",
                    "direction": "inbound",
                    "topic": "service",
                    "outcome": "open",
                },
            ],
            "surveys": [
                {"customer_id": "A", "ts": _ts("2024-02-01"), "nps": 9},
                {"customer_id": "A", "ts": _ts("2024-05-01"), "nps": 4},
            ],
            "ratings": [
                {"customer_id": "A", "ts": date(2023, 10, 1), "source": "x", "rating": "A", "score": 80.0},
                {"customer_id": "A", "ts": date(2024, 5, 1), "source": "x", "rating": "B", "score": 55.0},
            ],
        }
    )


def test_hand_made_features(hand: duckdb.DuckDBPyConnection) -> None:
    f = build_features(hand, AS_OF).to_dicts()
    a, b = f
    assert (a["customer_id"], b["customer_id"]) == ("A", "B")
    assert a["tenure_days"] == 366
    assert b["tenure_days"] == 31
    assert (a["purchases_total"], a["purchases_90d"], a["refunds_365d"]) == (2, 1, 1)
    assert a["revenue_90d"] == pytest.approx(80.0)
    assert a["revenue_prev_90d"] == pytest.approx(50.0)
    assert a["revenue_trend_90d"] == pytest.approx(30.0)
    assert a["recency_days"] == 12
    assert (a["active_subscriptions"], a["mrr"], a["holds_plus"], a["holds_basic"]) == (1, 99.0, 1, 0)
    # I1 is unpaid at as_of: its days past due run until as_of (60); I2 was 10 days late, I3 early.
    assert a["current_dpd"] == 60
    assert a["dpd_max_365d"] == 60
    assert a["open_overdue_amount"] == 70.0
    assert a["dpd_mean_365d"] == pytest.approx((60 + 10 + 0) / 3)
    assert a["late_share_365d"] == pytest.approx(2 / 3)
    assert a["dpd_max_ever"] == 120  # I4, two years ago: outside the 12-month worst
    assert (a["complaints_90d"], a["open_tickets"], a["days_since_last_contact"]) == (1, 1, 31)
    assert (a["nps_last"], a["nps_previous"], a["nps_trend"]) == (4, 9, -5)
    assert (a["rating_score"], a["rating_score_6m_ago"], a["rating_change_6m"]) == (55.0, 80.0, -25.0)
    assert b["purchases_total"] == 0
    assert b["recency_days"] is None
    assert b["holds_plus"] == 0
    assert b["current_dpd"] == 0
    assert b["nps_last"] is None
    assert b["rating_score"] is None


def test_feature_catalogue_matches_the_query(hand: duckdb.DuckDBPyConnection) -> None:
    columns = build_features(hand, AS_OF, products=["plus"]).columns
    assert columns[:2] == ["customer_id", "as_of"]
    assert set(columns[2:]) == {*FEATURES, "holds_plus"}


def test_store_source(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path / "offline")
    store.create()
    with store.transaction() as tx:
        tx.append(
            "customers", pl.DataFrame({"customer_id": ["C1"], "acquired_at": [date(2024, 1, 1)], "kind": ["B2C"]})
        )
    features = build_features(store, "2024-03-01")
    assert features["customer_id"].to_list() == ["C1"]
    assert features["tenure_days"].to_list() == [60]


# -- labels ---------------------------------------------------------------------------------------

LABEL_AS_OF = date(2023, 1, 1)


@pytest.fixture
def lives() -> duckdb.DuckDBPyConnection:
    """Five customers whose futures after 2023-01-01 are known; data run until 2024-06-30."""
    buys = {
        "K1": ["2022-12-01", "2023-02-01"],  # last purchase in the window, then gone: churn
        "K2": ["2022-12-01", "2023-02-01", "2023-09-01"],  # comes back within a year: no churn
        "K3": ["2022-06-01"],  # last purchase before as_of, never back: already gone, 0
        "K4": ["2021-01-01"],  # inactive at as_of: not in the population
    }
    tx = [
        {"transaction_id": f"{c}{i}", "customer_id": c, "ts": _ts(d), "amount": 10.0}
        for c, days in buys.items()
        for i, d in enumerate(days)
    ]
    tx.append({"transaction_id": "END", "customer_id": "K2", "ts": _ts("2024-06-30"), "amount": 1.0})
    subs = [
        {"subscription_id": "S1", "customer_id": "S", "product": "basic", "start": date(2022, 1, 1), "mrr": 10.0},
        {
            "subscription_id": "S2",
            "customer_id": "T",
            "product": "basic",
            "start": date(2022, 1, 1),
            "end": date(2023, 2, 1),
            "mrr": 10.0,
        },
        {"subscription_id": "S3", "customer_id": "T", "product": "support", "start": date(2023, 1, 15), "mrr": 5.0},
        {"subscription_id": "S4", "customer_id": "T", "product": "support", "start": date(2022, 1, 1), "mrr": 5.0},
        {"subscription_id": "S5", "customer_id": "S", "product": "plus", "start": date(2023, 3, 1), "mrr": 20.0},
    ]
    customers = [{"customer_id": c, "acquired_at": date(2020, 1, 1), "kind": "B2C"} for c in [*buys, "S", "T"]]
    pays = [
        {"invoice_id": "P1", "customer_id": "S", "due_date": date(2023, 6, 1), "amount": 1.0},  # never paid: bad
        {
            "invoice_id": "P2",
            "customer_id": "T",
            "due_date": date(2023, 6, 1),
            "paid_date": date(2023, 7, 1),
            "amount": 1.0,
        },
        {"invoice_id": "P3", "customer_id": "K1", "due_date": date(2022, 10, 1), "amount": 1.0},  # bad already
        {"invoice_id": "P4", "customer_id": "K2", "due_date": date(2023, 12, 15), "amount": 1.0},  # 60 dpd too late
    ]
    return _con({"customers": customers, "transactions": tx, "subscriptions": subs, "payments": pays})


def test_churn_labels(lives: duckdb.DuckDBPyConnection) -> None:
    labels = churn_labels(lives, LABEL_AS_OF, 90, inactivity_days=365)
    got = {r["customer_id"]: (r["contract"], r["churn"]) for r in labels.to_dicts()}
    # T's basic ends within 90 days but its support add-on (S4) stays: no churn.
    assert got == {"K1": (False, 1), "K2": (False, 0), "K3": (False, 0), "S": (True, 0), "T": (True, 0)}


def test_contract_churn_when_every_subscription_ends() -> None:
    subs = [
        {
            "subscription_id": "S",
            "customer_id": "X",
            "product": "basic",
            "start": date(2022, 1, 1),
            "end": date(2023, 3, 1),
        },
    ]
    con = _con(
        {
            "customers": [{"customer_id": "X", "acquired_at": date(2022, 1, 1), "kind": "B2C"}],
            "subscriptions": [{**s, "mrr": 1.0} for s in subs],
        }
    )
    labels = churn_labels(con, LABEL_AS_OF, 90, check=False)
    assert labels.select("contract", "churn").row(0) == (True, 1)
    assert churn_labels(con, LABEL_AS_OF, 30, check=False).select("churn").item() == 0


def test_labels_refuse_unobserved_future(lives: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="needs data until"):
        churn_labels(lives, date(2024, 1, 1), 90, inactivity_days=365)


def test_default_labels(lives: duckdb.DuckDBPyConnection) -> None:
    got = dict(default_labels(lives, LABEL_AS_OF, 365).select("customer_id", "defaulted").iter_rows())
    # K1 was already 60+ days past due at as_of and is left out; K2's invoice reaches 60 dpd after the year.
    assert got == {"S": 1, "T": 0, "K2": 0, "K3": 0}


def test_adoption_labels(lives: duckdb.DuckDBPyConnection) -> None:
    labels = adoption_labels(lives, LABEL_AS_OF, 90, products=["basic", "plus", "support"])
    got = {r["customer_id"]: r for r in labels.to_dicts()}
    assert got["S"]["adopt_plus"] == 1
    assert got["S"]["adopt_basic"] is None
    assert got["S"]["upsell"] == 1
    assert got["T"]["adopt_support"] is None
    assert got["T"]["adopt_plus"] == 0
    assert got["T"]["upsell"] == 0
    assert got["K1"]["adopt_basic"] == 0
    assert got["K1"]["upsell"] is None


# -- portability ----------------------------------------------------------------------------------


def _spark(sql: str) -> str:
    return str(sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)[0])


def test_every_definition_transpiles_to_spark() -> None:
    sqls = [
        *feature_blocks(AS_OF, PRODUCTS).values(),
        feature_query(AS_OF, PRODUCTS),
        churn_sql(AS_OF),
        default_sql(AS_OF),
        adoption_sql(AS_OF, PRODUCTS),
    ]
    for sql in sqls:
        spark = _spark(sql)
        assert "DATEDIFF" in spark or "datediff" in spark.lower() or "DATE_DIFF" not in sql
        sqlglot.parse_one(spark, read="spark")
    # Whether Spark gives the same rows and types is tested on real Spark: tests/integration/test_features_spark.py


def test_feature_blocks_run_alone(hand: duckdb.DuckDBPyConnection) -> None:
    for name, sql in feature_blocks(AS_OF, ["plus"]).items():
        assert hand.sql(sql).pl().height >= 1, name
