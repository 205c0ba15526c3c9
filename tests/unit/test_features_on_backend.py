"""Results from another backend are typed as DuckDB types the same query (cvm.features.on_backend)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from cvm.features import feature_query
from cvm.features.on_backend import as_duckdb, duckdb_types


def test_duckdb_types_of_the_feature_query_are_planned_without_data() -> None:
    types = duckdb_types(feature_query(date(2024, 6, 1), ["basic"]))
    assert types["late_share_365d"] == pl.Float64  # Spark gave decimal(6,5) here (issue 17)
    assert types["tenure_days"] == pl.Int64  # Spark's DATEDIFF gives a 32-bit integer
    assert types["holds_basic"] == pl.Int32
    assert types["as_of"] == pl.Date


def test_a_spark_frame_is_cast_to_duckdbs_types() -> None:
    spark_like = pl.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "late_share_365d": pl.Series([Decimal("0.33333"), None], dtype=pl.Decimal(6, 5)),
            "tenure_days": pl.Series([10, 20], dtype=pl.Int32),
        }
    )
    types = {"customer_id": pl.Utf8(), "late_share_365d": pl.Float64(), "tenure_days": pl.Int64()}
    out = as_duckdb(spark_like, types)
    assert out.schema == pl.Schema(types)
    assert out["late_share_365d"].to_list() == [0.33333, None]


def test_columns_that_differ_from_duckdbs_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"\['customer_id', 'x'\] are not DuckDB's \['customer_id', 'y'\]"):
        as_duckdb(pl.DataFrame({"customer_id": ["C1"], "x": [1]}), {"customer_id": pl.Utf8(), "y": pl.Int64()})
