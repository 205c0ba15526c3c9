"""Run the feature definitions on DuckDB (or an offline backend): one row per customer as of a date.

Examples
--------
>>> from cvm.store import OfflineStore  # doctest: +SKIP
>>> features = build_features(OfflineStore(root), date(2024, 6, 30))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, TypeAlias

import duckdb
import polars as pl

from cvm.features.on_backend import frame_of, local_source, products_on, remote
from cvm.features.sql import feature_query
from cvm.store.offline import OfflineStore

if TYPE_CHECKING:
    from cvm.store.backend import OfflineBackend

#: Where the feature and label queries run: the store (DuckDB), a DuckDB connection, or an offline backend.
Source: TypeAlias = "OfflineStore | duckdb.DuckDBPyConnection | OfflineBackend"


@contextmanager
def connection(source: Source) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with one view per hub table, in UTC.

    An :class:`OfflineStore` is opened (and closed afterwards); a connection is used as it is, with
    its ``TimeZone`` set to UTC so that timestamps fall on their UTC dates; the DuckDB backend gives its
    store. A remote backend (Spark) has no DuckDB connection: its callers use :func:`remote` instead.
    """
    local = local_source(source)
    if isinstance(local, OfflineStore):
        source = local
    if isinstance(source, OfflineStore):
        con = source.connect()
        try:
            con.execute("SET TimeZone = 'UTC'").fetchall()
            yield con
        finally:
            con.close()
    elif isinstance(source, duckdb.DuckDBPyConnection):
        source.execute("SET TimeZone = 'UTC'").fetchall()
        yield source
    else:
        raise TypeError(f"the {type(source).__name__} has no DuckDB connection: run its queries through the backend")


def as_date(value: date | datetime | str) -> date:
    """A plain date from a date, a datetime or an ISO string."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def products_before(con: duckdb.DuckDBPyConnection, as_of: date) -> list[str]:
    """Products of the subscriptions that started before ``as_of``, sorted."""
    rows = con.execute(
        "SELECT DISTINCT product FROM subscriptions WHERE start < CAST(? AS DATE) ORDER BY product", [as_of]
    ).fetchall()
    return [str(r[0]) for r in rows if r[0] is not None]


def products_of(source: Source, as_of: date) -> list[str]:
    """:func:`products_before` on whatever ``source`` is (a store, a connection or a backend)."""
    backend = remote(source)
    if backend is not None:
        return products_on(backend, as_of)
    with connection(source) as con:
        return products_before(con, as_of)


def build_features(
    source: Source, as_of: date | datetime | str, *, products: Sequence[str] | None = None
) -> pl.DataFrame:
    """Features of every customer acquired before ``as_of``, from what was known at its start.

    Parameters
    ----------
    source
        The offline store, a DuckDB connection with views named after the hub tables, or an offline
        backend (:mod:`cvm.store.backend`: on Spark the same query runs there, the rows come to the driver).
    as_of
        Snapshot date. Rows dated on or after it are ignored; so are subscription ends and
        payments on or after it (the subscription is still active, the invoice still open).
    products
        Products that get a ``holds_<product>`` flag; default: every product subscribed before
        ``as_of``. Pass a fixed list to get the same columns at every date.

    Returns
    -------
    polars.DataFrame
        ``customer_id``, ``as_of`` and the columns of :data:`cvm.features.sql.FEATURES`, sorted by
        ``customer_id``.
    """
    day = as_date(as_of)
    backend = remote(source)
    if backend is not None:
        chosen = list(products) if products is not None else products_on(backend, day)
        return frame_of(backend, feature_query(day, chosen) + "\nORDER BY c.customer_id")
    with connection(source) as con:
        chosen = list(products) if products is not None else products_before(con, day)
        frame: pl.DataFrame = con.sql(feature_query(day, chosen) + "\nORDER BY c.customer_id").pl()
    return frame
