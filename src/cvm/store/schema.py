"""Arrow and Polars types for the hub tables declared in :mod:`cvm.contracts`."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from cvm.contracts import DType, TableSchema

ARROW_TYPES: dict[DType, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

POLARS_TYPES: dict[DType, pl.DataType] = {
    "string": pl.Utf8(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us", "UTC"),
}


def arrow_schema(table: TableSchema) -> pa.Schema:
    """Return the Arrow schema that the offline store writes for ``table``."""
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.dtype], nullable=not c.required) for c in table.columns])


def polars_schema(table: TableSchema) -> dict[str, pl.DataType]:
    """Return the Polars schema of ``table``."""
    return {c.name: POLARS_TYPES[c.dtype] for c in table.columns}


def empty_frame(table: TableSchema) -> pl.DataFrame:
    """Return an empty, correctly typed frame for ``table``."""
    return pl.DataFrame(schema=polars_schema(table))


def conform(frame: pl.DataFrame, table: TableSchema) -> pl.DataFrame:
    """Select and cast ``frame`` to exactly the columns and types of ``table``."""
    exprs = []
    for c in table.columns:
        dtype = POLARS_TYPES[c.dtype]
        if c.name in frame.columns:
            exprs.append(pl.col(c.name).cast(dtype))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(c.name))
    return frame.select(exprs)
