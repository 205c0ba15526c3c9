"""The value scores (CLV) on Spark equal those of the DuckDB path, row for row and in the report, on one demo hub."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cvm.config.settings import ScoringSettings, Settings, SparkSettings
from cvm.features.rfm import rfm_counts, rfm_counts_spark
from cvm.scoring.inputs import end_of_day
from cvm.scoring.report import NotEnoughDataError
from cvm.scoring.value import VALUE_SCORES
from cvm.scoring.value_chunks import write_value_scores
from cvm.scoring.value_spark import write_value_scores_on
from cvm.store import OfflineStore
from cvm.store.spark import SparkBackend
from tests.demo_hub import demo_store
from tests.spark_session import SPARK_MARKS, spark

__all__ = ["spark"]  # the shared session fixture

pytestmark = SPARK_MARKS

AS_OF = date(2024, 6, 30)
TABLES = ("customers", "transactions", "subscriptions", "contacts", "payments")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> OfflineStore:
    """400 customers: every case below occurs (grades, subscribers, repeat buyers enough for Gamma-Gamma; 200
    are too few for it), and Spark's cost is per job, not per customer."""
    return demo_store(tmp_path_factory.mktemp("demo"), 400, 3, date(2024, 12, 31), TABLES)


def _spark_table(spark: Any, store: OfflineStore, table: str) -> Any:
    return spark.read.parquet(*[str(p) for p in store.files(table)])


def _copy(store: OfflineStore, where: Path) -> OfflineStore:
    shutil.copytree(store.root, where)
    return OfflineStore(where)


KEPT = pl.DataFrame(  # a score of another stage in the same partition: a value run must keep it
    {
        "customer_id": ["C0000001"],
        "as_of": [AS_OF],
        "score": ["churn"],
        "value": [0.25],
        "grade": ["low"],
        "model_version": ["churn-1"],
        "reasons": ["test"],
    }
)


@pytest.mark.parametrize(
    "scoring",
    [ScoringSettings(), ScoringSettings(freq="W", horizon_months=24, margin_source="rate")],
    ids=["daily", "weekly"],
)
def test_spark_value_scores_equal_the_duckdb_rows(
    spark: Any, hub: OfflineStore, tmp_path: Path, scoring: ScoringSettings
) -> None:
    settings = Settings(scoring=scoring)
    channel_cost = {"phone": 3.0, "email": 0.1}
    duck, sparked = _copy(hub, tmp_path / "duck"), _copy(hub, tmp_path / "spark")
    for store in (duck, sparked):
        with store.transaction() as tx:
            tx.upsert("scores", KEPT)
    expected = write_value_scores(duck, settings.scoring, AS_OF, channel_cost)
    got = write_value_scores_on(SparkBackend(sparked, SparkSettings(master="local[2]")), settings, AS_OF, channel_cost)
    assert got.backend == "spark"
    assert {**got.to_dict(), "backend": "duckdb"} == expected.to_dict()  # models, grades, totals and notes
    a, b = (s.read("scores").sort("customer_id", "score") for s in (duck, sparked))
    assert a.schema == b.schema
    assert a.height == b.height == expected.customers * len(VALUE_SCORES) + 1
    assert a.drop("value").equals(b.drop("value"))  # ids, dates, grades, versions and reason codes exactly
    np.testing.assert_allclose(b["value"].to_numpy(), a["value"].to_numpy(), rtol=1e-9, atol=0, equal_nan=True)
    assert b.filter(pl.col("score") == "churn")["value"].to_list() == [0.25]
    assert set(b.filter(pl.col("score") == "clv")["grade"]) == {"high", "medium", "low"}
    live = b.filter(pl.col("score") == "p_alive", pl.col("model_version") == "contract")
    assert live.height > 0  # subscribers valued by the contract model, as on DuckDB


def test_spark_counts_equal_the_duckdb_counts(spark: Any, hub: OfflineStore) -> None:
    buys = hub.scan("transactions").filter(pl.col("ts") < end_of_day(AS_OF), pl.col("amount") > 0).collect()
    expected = rfm_counts(buys, monetary_value_col="amount", observation_period_end=AS_OF)
    tx = _spark_table(spark, hub, "transactions").where("amount > 0 AND ts < TIMESTAMP '2024-07-01 00:00:00'")
    got = rfm_counts_spark(tx, monetary_value_col="amount", observation_period_end=AS_OF)
    assert got.customers == expected.customers == buys["customer_id"].n_unique()
    assert got.rft.equals(expected.rft)
    assert got.spend is not None
    assert expected.spend is not None
    pd.testing.assert_frame_equal(got.spend, expected.spend, check_exact=False, rtol=1e-12)


def test_spark_refuses_a_date_without_purchases_as_duckdb_does(spark: Any, hub: OfflineStore) -> None:
    early = date(2000, 1, 1)
    with pytest.raises(NotEnoughDataError) as duck:
        write_value_scores(hub, ScoringSettings(), early)
    with pytest.raises(NotEnoughDataError) as got:
        write_value_scores_on(SparkBackend(hub, SparkSettings(master="local[2]")), Settings(), early)
    assert str(got.value) == str(duck.value) == "no purchases up to 2000-01-01: nothing to score"
    assert hub.files("scores") == []  # nothing written
