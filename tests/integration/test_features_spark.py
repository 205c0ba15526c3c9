"""The feature and label SQL on real Spark (local mode) gives what DuckDB gives, row for row and type for type.

The definitions are written once in DuckDB SQL and transpiled by sqlglot; comparing the
transpiled text proves nothing, so both engines run them over the same demo hub files.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from cvm.contracts import DATA_TABLES
from cvm.demo import generate
from cvm.features import feature_query
from cvm.features.labels import adoption_sql, churn_sql, default_sql
from tests.spark_session import SPARK_MARKS, spark

__all__ = ["spark"]  # the shared session fixture

pytestmark = SPARK_MARKS

AS_OF = date(2024, 6, 1)
PRODUCTS = ["basic", "plus", "premium", "support"]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hub")
    generate(300, seed=5, out=out, end=date(2024, 12, 31))  # Spark's cost is per query, not per customer
    return out


@pytest.fixture(scope="module")
def engines(hub: Path, spark: Any) -> tuple[duckdb.DuckDBPyConnection, Any]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name in DATA_TABLES:
        path = hub / f"{name}.parquet"
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
        spark.read.parquet(str(path)).createOrReplaceTempView(name)
    return con, spark


Engines = tuple[duckdb.DuckDBPyConnection, Any]


def _both(engines: Engines, sql: Callable[[str], str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    con, spark = engines
    left = con.sql(sql("duckdb")).df().sort_values("customer_id").reset_index(drop=True)
    right = spark.sql(sql("spark")).toPandas().sort_values("customer_id").reset_index(drop=True)
    return left, right


def _kind(series: pd.Series) -> str:
    """The type family a model sees: float, integer, bool, text, time (decimals are *not* floats)."""
    first = next((v for v in series if v is not None and not (isinstance(v, float) and np.isnan(v))), None)
    if series.dtype == object and first is not None and type(first).__name__ == "Decimal":
        return "decimal"
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_datetime64_any_dtype(series) or type(first).__name__ in ("date", "datetime", "Timestamp"):
        return "time"
    return "text" if first is None or isinstance(first, str) else type(first).__name__


def _assert_same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    assert list(left.columns) == list(right.columns)
    assert len(left) == len(right) > 100
    assert (left["customer_id"].astype(str) == right["customer_id"].astype(str)).all()
    for col in left.columns:
        a, b = left[col], right[col]
        # integers come back as floats where a column holds NULLs (pandas), never as decimals
        assert _kind(a) == _kind(b) or {_kind(a), _kind(b)} == {"integer", "float"}, (col, _kind(a), _kind(b))
        if _kind(a) in ("float", "integer") and _kind(b) in ("float", "integer"):
            x, y = a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan)
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=0, equal_nan=True, err_msg=col)
        elif _kind(a) == "time":
            assert (pd.to_datetime(a).dt.date.astype(str) == pd.to_datetime(b).dt.date.astype(str)).all(), col
        else:
            assert (a.astype(str) == b.astype(str)).all(), col


def test_features_are_equal_on_both_engines(engines: tuple[duckdb.DuckDBPyConnection, Any]) -> None:
    left, right = _both(engines, lambda d: feature_query(AS_OF, PRODUCTS, dialect=d))  # type: ignore[arg-type]
    _assert_same(left, right)
    for col in ("late_share_365d", "late_share_90d"):
        assert (left[col] > 0).sum() > 20, col  # late payers occur in the small hub: a decimal would show
        assert _kind(right[col]) == "float", f"{col} is {right[col].dtype} on Spark"


@pytest.mark.parametrize("which", ["churn", "default", "adoption"])
def test_labels_are_equal_on_both_engines(engines: tuple[duckdb.DuckDBPyConnection, Any], which: str) -> None:
    makers: dict[str, Callable[[str], str]] = {
        "churn": lambda d: churn_sql(AS_OF, dialect=d),  # type: ignore[arg-type]
        "default": lambda d: default_sql(AS_OF, dialect=d),  # type: ignore[arg-type]
        "adoption": lambda d: adoption_sql(AS_OF, PRODUCTS, dialect=d),  # type: ignore[arg-type]
    }
    left, right = _both(engines, makers[which])
    _assert_same(left, right)
