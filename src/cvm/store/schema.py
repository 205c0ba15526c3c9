"""Arrow and Polars types for the hub tables declared in :mod:`cvm.contracts`."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import polars as pl

from cvm.contracts import DType, TableSchema

if TYPE_CHECKING:  # pyarrow loads when the store writes, not when it is opened
    import pyarrow as pa


POLARS_TYPES: dict[DType, pl.DataType] = {
    "string": pl.Utf8(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us", "UTC"),
}


@cache
def arrow_types() -> dict[DType, pa.DataType]:
    """The Arrow type of each hub type."""
    import pyarrow as pa

    return {
        "string": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }


def __getattr__(name: str) -> Any:
    """``ARROW_TYPES``: :func:`arrow_types`, loaded when asked for."""
    if name == "ARROW_TYPES":
        return arrow_types()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def arrow_schema(table: TableSchema) -> pa.Schema:
    """Return the Arrow schema that the offline store writes for ``table``."""
    import pyarrow as pa

    types = arrow_types()
    return pa.schema([pa.field(c.name, types[c.dtype], nullable=not c.required) for c in table.columns])


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
