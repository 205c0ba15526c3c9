"""The purchase-model value scores on Spark equal those of the DuckDB path, row for row, on one demo hub."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cvm.config.settings import ScoringSettings
from cvm.demo.generate import generate
from cvm.features.rfm import rfm_counts, rfm_counts_spark
from cvm.scoring.inputs import load_point_in_time, purchases
from cvm.scoring.value import compute_value_scores
from cvm.scoring.value_spark import PURCHASE_SCORES, buyer_values_spark, purchase_scores_spark
from cvm.store import OfflineStore
from tests.spark_session import SPARK_MARKS, spark

__all__ = ["spark"]  # the shared session fixture

pytestmark = SPARK_MARKS

AS_OF = date(2024, 6, 30)
TABLES = ("customers", "transactions", "subscriptions", "contacts", "payments")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> OfflineStore:
    out = tmp_path_factory.mktemp("demo")
    generate(1500, seed=3, out=out / "files", end=date(2024, 12, 31))
    store = OfflineStore(out / "offline")
    store.create()
    with store.transaction() as tx:
        for table in TABLES:
            tx.append(table, pl.read_parquet(out / "files" / f"{table}.parquet"))
    return store


def _spark_table(spark: Any, store: OfflineStore, table: str) -> Any:
    return spark.read.parquet(*[str(p) for p in store.files(table)])


def test_spark_purchase_scores_equal_the_duckdb_rows(spark: Any, hub: OfflineStore) -> None:
    settings = ScoringSettings()
    expected, report = compute_value_scores(load_point_in_time(hub, AS_OF), settings)
    customers = _spark_table(spark, hub, "customers").where(f"acquired_at <= DATE '{AS_OF}'")
    frame, models = purchase_scores_spark(_spark_table(spark, hub, "transactions"), settings, AS_OF, customers)
    got = pl.from_arrow(frame.toArrow())
    assert isinstance(got, pl.DataFrame)
    assert [m.to_dict() for m in models] == report.models[:2]  # same parameters, versions and customer counts
    # Customers with a live contract are valued by the contract model on DuckDB (p_alive 1): not on Spark.
    live = expected.filter(pl.col("score") == "p_alive", pl.col("model_version") == "contract")["customer_id"]
    assert 0 < live.len() < expected["customer_id"].n_unique()
    expected = expected.filter(pl.col("score").is_in(PURCHASE_SCORES), ~pl.col("customer_id").is_in(live.to_list()))
    got = got.filter(~pl.col("customer_id").is_in(live.to_list())).sort("customer_id", "score")
    assert got.schema == expected.schema
    assert got.height == expected.height > 1000
    assert got.drop("value").equals(expected.drop("value"))  # ids, dates, versions and reason codes exactly
    a, b = got["value"].to_numpy(), expected["value"].to_numpy()
    assert np.array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-9, atol=0)


def test_spark_counts_equal_the_duckdb_counts(spark: Any, hub: OfflineStore) -> None:
    buys = purchases(load_point_in_time(hub, AS_OF))
    expected = rfm_counts(buys, monetary_value_col="amount", observation_period_end=AS_OF)
    tx = _spark_table(spark, hub, "transactions").where("amount > 0 AND ts < TIMESTAMP '2024-07-01 00:00:00'")
    got = rfm_counts_spark(tx, monetary_value_col="amount", observation_period_end=AS_OF)
    assert got.customers == expected.customers == buys["customer_id"].n_unique()
    assert got.rft.equals(expected.rft)
    assert got.spend is not None
    assert expected.spend is not None
    pd.testing.assert_frame_equal(got.spend, expected.spend, check_exact=False, rtol=1e-12)


def test_spark_buyer_values_equal_the_duckdb_ones(spark: Any, hub: OfflineStore) -> None:
    from cvm.scoring.value import _purchase_values, fit_values

    settings = ScoringSettings(freq="W", horizon_months=24)
    pit = load_point_in_time(hub, AS_OF)
    unit_margin = pd.Series(1.0, index=pit.customers["customer_id"].to_list())
    fit = fit_values(lambda _: pit, [None], settings, AS_OF)  # type: ignore[list-item]  # one chunk: the whole hub
    expected, expected_models = _purchase_values(pit, settings, unit_margin, fit), [fit.purchase, fit.spend]
    frame, models = buyer_values_spark(_spark_table(spark, hub, "transactions"), settings, AS_OF)
    got = frame.toPandas().set_index("customer_id").sort_index()
    assert [m.to_dict() for m in models] == [m.to_dict() for m in expected_models]
    expected = expected[list(got.columns)].rename_axis("customer_id").sort_index()
    assert len(got) > 1000
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, atol=0)
