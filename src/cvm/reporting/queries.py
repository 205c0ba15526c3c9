"""The reports' queries, written once in DuckDB's dialect for every offline backend.

A report reads the hub tables through one of these queries, run by the offline backend
(:mod:`cvm.store.backend`: DuckDB in this process, or Spark with the query transpiled by sqlglot), so the
scan of every transaction happens where the data is and only aggregates reach this process. The pure
functions of this package (``growth_accounting(frame)``, ``voc(frame)``, ...) run the same queries on an
in-process DuckDB over the frames they are given (:func:`run_local`): one definition for both.

Values are bound as literals (:func:`cvm.rules.bind.bind`), names come from our code only.

Money is exact: every amount is rounded to the cent, half away from zero (the same on both backends:
``round(amount * 100)`` of the double, then divided by 100) and cast to ``DECIMAL(18, 2)`` *before* it is
summed, so sums are decimal (never binary floating point) on DuckDB and Spark alike. The net per customer
and period is returned as integer cents (the decimal sum times 100).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl

from cvm.reporting.periods import PeriodCode
from cvm.rules.bind import bind

if TYPE_CHECKING:
    import pyarrow as pa

    from cvm.store.backend import OfflineBackend

#: Runs one query and returns its (small) result.
Runner = Callable[[str], pl.DataFrame]

NET_SCHEMA = {"customer": pl.Utf8, "p": pl.Int64, "net": pl.Int64}


def period_sql(day: str, code: PeriodCode) -> str:
    """The period index of a date or timestamp column (see :mod:`cvm.reporting.periods`), as ``BIGINT``."""
    year, month = f"CAST(year({day}) AS BIGINT)", f"CAST(month({day}) AS BIGINT)"
    if code == "M":
        return f"({year} * 12 + {month} - 1)"
    if code == "Q":
        return f"({year} * 4 + ({month} - 1) // 3)"
    return year


def cents_sql(amount: str) -> str:
    """An amount rounded to the cent (half away from zero) as ``DECIMAL(18, 2)``, identical on every backend."""
    return f"CAST(round({amount} * 100) / 100 AS DECIMAL(18, 2))"


def _net_of(rows: str) -> str:
    """Net integer cents per (customer, p) of ``rows`` (columns customer, p, amount), sorted by both."""
    return (
        f"SELECT customer, p, CAST(coalesce(sum({cents_sql('amount')}), 0) * 100 AS BIGINT) AS net "
        f"FROM ({rows}) r GROUP BY customer, p ORDER BY customer, p"
    )


def within(ids: str | None, column: str = "customer_id") -> str:
    """``AND column IN (ids)`` when a filter selects customers (``ids`` is its id query), else nothing."""
    return "" if ids is None else f" AND {column} IN ({ids})"


def net_sql(code: PeriodCode, as_of: date | None, ids: str | None = None, table: str = "transactions") -> str:
    """Net cents per (customer, period) of the transactions dated on or before ``as_of`` (all when None)."""
    day = "CAST(ts AS DATE)"
    until = "" if as_of is None else f" AND {day} <= $as_of"
    rows = (
        f"SELECT customer_id AS customer, {period_sql(day, code)} AS p, amount FROM {table} "
        f"WHERE TRUE{until}{within(ids)}"
    )
    return _net_of(bind(rows, {"as_of": as_of}))


def mrr_net_sql(code: PeriodCode, as_of: date, ids: str | None = None, table: str = "subscriptions") -> str:
    """MRR cents per (customer, period): the subscriptions live at each period's snapshot.

    Live at the snapshot of period ``p`` (its last day, or ``as_of`` for the period holding it) means
    ``p0 <= p <= p1`` with ``p0`` the start's period and ``p1`` as below (``end`` exclusive, null = open).
    """
    last = period_sql("$as_of", code)
    end_p = period_sql('"end"', code)
    p1 = (
        f'CASE WHEN "end" IS NULL OR "end" > $as_of THEN {last} WHEN {end_p} = {last} THEN {last} - 1 '
        f"ELSE {end_p} - 1 END"
    )
    spans = bind(
        f"SELECT customer_id, mrr, {period_sql('start', code)} AS p0, {p1} AS p1 FROM {table} "
        f"WHERE start <= $as_of{within(ids)}",
        {"as_of": as_of},
    )
    rows = (
        "SELECT customer_id AS customer, unnest(generate_series(p0, p1)) AS p, mrr AS amount "
        f"FROM ({spans}) s WHERE p1 >= p0"
    )
    return _net_of(rows)


def frame_of(table: pa.Table) -> pl.DataFrame:
    """An Arrow result as a Polars frame."""
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    return out


def on_backend(backend: OfflineBackend) -> Runner:
    """Run queries on an offline backend (over the committed hub tables)."""
    return lambda sql: frame_of(backend.query(sql))


_local = threading.local()


def _connection() -> Any:
    """This thread's in-process DuckDB connection for :func:`run_local` (opening one costs tens of ms)."""
    con = getattr(_local, "con", None)
    if con is None:
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        _local.con = con
    return con


def run_local(sql: str, frames: dict[str, Any]) -> pl.DataFrame:
    """Run ``sql`` on an in-process DuckDB whose tables are ``frames`` (Polars frames), in UTC."""
    con = _connection()
    try:
        for name, frame in frames.items():
            con.register(name, frame.to_arrow())
        out: pl.DataFrame = con.sql(sql).pl()
    finally:
        for name in frames:
            con.unregister(name)
    return out


def net_table(run: Runner, sql: str) -> pl.DataFrame:
    """The net rows of :func:`net_sql` / :func:`mrr_net_sql`, typed (``customer, p, net``)."""
    return run(sql).cast(NET_SCHEMA)  # type: ignore[arg-type]
