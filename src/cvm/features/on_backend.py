"""The feature and label queries run through an offline backend (:mod:`cvm.store.backend`), e.g. on Spark.

The definitions stay those of :mod:`cvm.features.sql` and :mod:`cvm.features.labels`, written once in
DuckDB's dialect; :meth:`~cvm.store.backend.OfflineBackend.query` runs them where the backend runs (Spark
transpiles them with sqlglot, in a UTC session). Results come back to the driver, so a caller asks only for
what fits there: one snapshot's labelled rows, a sample for training, a count.

Spark types some columns differently (``DATEDIFF`` gives a 32-bit integer where DuckDB gives a 64-bit one, a
decimal may survive an average); :func:`frame_of` casts the result to the types DuckDB gives the same query
(:func:`duckdb_types`, planned over empty tables), so a model sees the same frame on both backends.

A :class:`~cvm.store.backend.DuckDBBackend` is not routed here: :func:`local_source` hands its store to
the DuckDB code, which is then exactly what ran before the seam.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from cvm.store.offline import OfflineStore

if TYPE_CHECKING:
    from cvm.store.backend import OfflineBackend


def local_source(source: Any) -> OfflineStore | duckdb.DuckDBPyConnection | None:
    """The store or DuckDB connection that ``source`` reads through on this machine; None for a remote backend.

    ``source`` is an :class:`OfflineStore`, a DuckDB connection or an offline backend; the DuckDB backend
    reads its own store.
    """
    if isinstance(source, OfflineStore | duckdb.DuckDBPyConnection):
        return source
    if getattr(source, "name", None) == "duckdb" and isinstance(getattr(source, "store", None), OfflineStore):
        return source.store  # type: ignore[no-any-return]
    if callable(getattr(source, "query", None)):
        return None
    raise TypeError(f"expected an OfflineStore, a DuckDB connection or an offline backend, got {type(source).__name__}")


def remote(source: Any) -> OfflineBackend | None:
    """``source`` when it is an offline backend that runs queries elsewhere (Spark), else None."""
    return None if local_source(source) is not None else source


def duckdb_types(sql: str) -> dict[str, pl.DataType]:
    """The column types DuckDB gives ``sql``'s result, planned over empty hub tables (nothing is read)."""
    from cvm.contracts import TABLES, table_schema
    from cvm.store.schema import empty_frame

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name in TABLES:
            con.register(name, empty_frame(table_schema(name)).to_arrow())
        empty = pl.from_arrow(con.sql(sql).limit(0).to_arrow_table())
    finally:
        con.close()
    assert isinstance(empty, pl.DataFrame)
    return dict(empty.schema)


def frame_of(backend: OfflineBackend, sql: str) -> pl.DataFrame:
    """The (driver-sized) result of ``sql`` on ``backend``, typed as DuckDB types it."""
    frame = pl.from_arrow(backend.query(sql))
    assert isinstance(frame, pl.DataFrame)
    return as_duckdb(frame, duckdb_types(sql))


def as_duckdb(frame: pl.DataFrame, types: dict[str, pl.DataType]) -> pl.DataFrame:
    """``frame`` (from Spark) cast to DuckDB's ``types`` of the same query, column by column."""
    if list(types) != frame.columns:
        raise ValueError(f"the backend's columns {frame.columns} are not DuckDB's {list(types)}")
    return frame.cast(types)  # type: ignore[arg-type]


def products_on(backend: OfflineBackend, as_of: date) -> list[str]:
    """Products of the subscriptions that started before ``as_of``, sorted (as :func:`products_before`)."""
    from cvm.features.sql import date_literal

    sql = f"SELECT DISTINCT product FROM subscriptions WHERE start < {date_literal(as_of)} ORDER BY product"
    return [str(p) for p in frame_of(backend, sql)["product"].to_list() if p is not None]


def observed_until_on(backend: OfflineBackend) -> date | None:
    """The last day with data (:data:`cvm.features.labels.OBSERVED_SQL`), computed on ``backend``."""
    from cvm.features.labels import OBSERVED_SQL

    rows = frame_of(backend, OBSERVED_SQL)["last"].to_list()
    value = rows[0] if rows else None
    return value.date() if isinstance(value, datetime) else value
