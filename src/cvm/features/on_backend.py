"""The feature and label queries run through an offline backend (:mod:`cvm.store.backend`), e.g. on Spark.

The definitions stay those of :mod:`cvm.features.sql` and :mod:`cvm.features.labels`, written once in
DuckDB's dialect; :meth:`~cvm.store.backend.OfflineBackend.query` runs them where the backend runs (Spark
transpiles them with sqlglot, in a UTC session). Results come back to the driver, so a caller asks only for
what fits there: one snapshot's labelled rows, a sample for training, a count.

Spark types some columns differently (``DATEDIFF`` gives a 32-bit integer, a decimal may survive an
average); :func:`normalised` gives back the types DuckDB gives: 64-bit integers and doubles, so a model
sees the same frame on both backends.

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


def normalised(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with DuckDB's types: every integer 64-bit, every decimal or 32-bit float a double."""
    casts = []
    for name, dtype in frame.schema.items():
        if dtype.is_integer() and dtype != pl.Int64:
            casts.append(pl.col(name).cast(pl.Int64))
        elif isinstance(dtype, pl.Decimal) or dtype == pl.Float32:
            casts.append(pl.col(name).cast(pl.Float64))
    return frame.with_columns(casts) if casts else frame


def frame_of(backend: OfflineBackend, sql: str) -> pl.DataFrame:
    """The (driver-sized) result of ``sql`` on ``backend``, with DuckDB's types."""
    frame = pl.from_arrow(backend.query(sql))
    assert isinstance(frame, pl.DataFrame)
    return normalised(frame)


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
