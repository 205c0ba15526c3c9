"""Assembling contract tables and writing them as Parquet or CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cvm.contracts.csvsafe import safe_arrow
from cvm.contracts.tables import TableSchema
from cvm.store.schema import arrow_schema

Format = Literal["parquet", "csv"]


def to_table(schema: TableSchema, columns: dict[str, pa.Array]) -> pa.Table:
    """Assemble columns in contract order, refusing missing or extra columns and wrong types."""
    missing = set(schema.column_names) - set(columns)
    extra = set(columns) - set(schema.column_names)
    if missing or extra:
        raise ValueError(f"{schema.name}: missing columns {sorted(missing)}, unexpected {sorted(extra)}")
    target = arrow_schema(schema)
    for f in target:
        if columns[f.name].type != f.type:
            raise TypeError(f"{schema.name}.{f.name}: got {columns[f.name].type}, expected {f.type}")
    return pa.Table.from_arrays([columns[f.name] for f in target], schema=target)


def write_table(table: pa.Table, path: Path, fmt: Format) -> Path:
    """Write ``table`` to ``path`` plus the format's suffix and return the file path."""
    target = path.with_suffix(f".{fmt}")
    if fmt == "parquet":
        pq.write_table(table, target, compression="zstd", compression_level=1)
    elif fmt == "csv":
        pacsv.write_csv(safe_arrow(_iso_timestamps(table)), target, pacsv.WriteOptions(quoting_header="none"))
    else:
        raise ValueError(f"unknown format {fmt!r}; use 'parquet' or 'csv'")
    return target


def _iso_timestamps(table: pa.Table) -> pa.Table:
    """Replace timestamp columns with ISO 8601 text (``2024-05-01T09:30:00Z``)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            seconds = pc.cast(table.column(i), pa.timestamp("s", tz="UTC"))
            text = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
            table = table.set_column(i, pa.field(f.name, pa.string(), f.nullable), text)
    return table
