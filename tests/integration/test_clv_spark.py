"""The RFM SQL on real Spark (local mode) gives what DuckDB gives."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
import pytest

from cvm.features.rfm import calibration_and_holdout, calibration_and_holdout_spark, rfm_summary, rfm_summary_spark
from tests.spark_session import SPARK_MARKS, spark

__all__ = ["spark"]  # the shared session fixture

with warnings.catch_warnings():
    # lifetimes 0.11 sets pandas' `mode.chained_assignment`, deprecated since pandas 3, when imported.
    warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
    from lifetimes.datasets import load_dataset


pytestmark = SPARK_MARKS


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    df = load_dataset("CDNOW_sample.txt", header=None, sep=r"\s+")
    df.columns = ["customer_id", "order_id", "date", "qty", "amount"]
    df["date"] = pd.to_datetime(df["date"].astype(str), format="%Y%m%d")
    return df[["customer_id", "date", "amount"]]


def _spark_frame(spark: Any, df: pd.DataFrame) -> Any:
    rows = [(int(c), d.to_pydatetime(), float(a)) for c, d, a in df.itertuples(index=False)]
    return spark.createDataFrame(rows, "customer_id long, date timestamp, amount double")


def _collect(frame: Any, name: str) -> pd.DataFrame:
    return pd.DataFrame([r.asDict() for r in frame.collect()]).set_index(name).sort_index()


@pytest.mark.parametrize("freq", ["D", "W"])
def test_spark_rfm_summary_equals_duckdb(spark: Any, cdnow: pd.DataFrame, freq: str) -> None:
    sdf = _spark_frame(spark, cdnow)
    got = _collect(rfm_summary_spark(sdf, "customer_id", "date", "amount", freq=freq), "customer_id")  # type: ignore[arg-type]
    expected = rfm_summary(cdnow, "customer_id", "date", "amount", freq=freq)  # type: ignore[arg-type]
    assert len(got) == 2357
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)


def test_spark_calibration_and_holdout_equals_duckdb(spark: Any, cdnow: pd.DataFrame) -> None:
    sdf = _spark_frame(spark, cdnow)
    kw: dict[str, Any] = {"calibration_period_end": "1997-09-30", "observation_period_end": "1998-06-30"}
    got = _collect(
        calibration_and_holdout_spark(sdf, "customer_id", "date", monetary_value_col="amount", **kw), "customer_id"
    )
    expected = calibration_and_holdout(cdnow, "customer_id", "date", monetary_value_col="amount", **kw)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
