"""Segment migration between two dates, for any per-customer categorical state.

The input is generic: ``customer_id, as_of, segment`` rows. A customer's state at a date is its
latest row on or before that date; a customer with no row yet is ``"(none)"``. Three sources:

* :func:`grade_states`: the grade history of a score in the ``scores`` table (the value grade is the
  ``clv`` score's grade: low, medium, high);
* :func:`stage_states`: the life-cycle stages of ``cvm.yaml``, from the stored segment refreshes
  (what the dashboard shows);
* :func:`activity_states`: a built-in activity state from transactions and subscriptions:

  - ``lapsed``: a contract churn (contracts held, none live, no purchase after the last ended), or
    no live contract and no purchase in the last ``lapsed_days`` (default 180);
  - ``new``: first purchase or contract within the last ``new_days`` (default 90);
  - ``active``: a live contract, or a purchase within the last ``active_days`` (default 90);
  - ``at_risk``: the rest: last purchase between ``active_days`` and ``lapsed_days`` ago.

  A purchase is a transaction with a positive amount; days are counted back from the date.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl
from sqlglot import exp

from cvm.errors import BadValueError
from cvm.reporting.periods import Frame, lazy, require
from cvm.reporting.queries import Runner, run_local, within
from cvm.rules.bind import bind

ACTIVITY_STATES = ("new", "active", "at_risk", "lapsed")
GRADES = ("low", "medium", "high")
NONE = "(none)"
STATE_SCHEMA = {"customer_id": pl.Utf8, "as_of": pl.Date, "segment": pl.Utf8}


def _text(value: str) -> str:
    return exp.Literal.string(value).sql(dialect="duckdb")


def grade_states_sql(score: str = "clv", ids: str | None = None, table: str = "scores") -> str:
    """``customer_id, as_of, segment`` rows of the grades of ``score`` (``value`` means ``clv``)."""
    name = "clv" if score == "value" else score
    return (
        f"SELECT customer_id, as_of, grade AS segment FROM {table} "
        f"WHERE score = {_text(name)} AND grade IS NOT NULL{within(ids)}"
    )


def stage_states_sql(ids: str | None = None, table: str = "segment_membership") -> str:
    """``customer_id, as_of, segment`` rows of the stored life-cycle stages (``stage:<name>`` rows)."""
    return (
        f"SELECT customer_id, as_of, substr(segment, 7) AS segment FROM {table} "
        f"WHERE starts_with(segment, 'stage:'){within(ids)}"
    )


def _activity_sql(
    at: date, new_days: int, active_days: int, lapsed_days: int, ids: str | None, tx: str, subs: str
) -> str:
    """The activity state of every customer known at ``at`` (see the module docstring)."""
    ended = '("end" IS NOT NULL AND "end" <= $at)'
    since = "date_diff('day', last_tx, $at)"
    sql = f"""
SELECT coalesce(b.customer_id, h.customer_id) AS customer_id, $at AS as_of,
  CASE WHEN (NOT coalesce(live, FALSE) AND last_end IS NOT NULL AND (last_tx IS NULL OR last_tx <= last_end))
         OR (NOT coalesce(live, FALSE) AND (last_tx IS NULL OR {since} > $lapsed)) THEN 'lapsed'
       WHEN least(first_tx, first_sub) > $new_from THEN 'new'
       WHEN coalesce(live, FALSE) OR {since} <= $active THEN 'active'
       ELSE 'at_risk' END AS segment
FROM (SELECT customer_id, min(d) AS first_tx, max(d) AS last_tx
      FROM (SELECT customer_id, CAST(ts AS DATE) AS d FROM {tx} WHERE amount > 0{within(ids)}) t
      WHERE d <= $at GROUP BY customer_id) b
FULL OUTER JOIN (
      SELECT customer_id, min(start) AS first_sub, bool_or(NOT {ended}) AS live,
             max("end") FILTER (WHERE {ended}) AS last_end
      FROM {subs} WHERE start <= $at{within(ids)} GROUP BY customer_id) h
  ON b.customer_id = h.customer_id"""
    params = {"at": at, "lapsed": lapsed_days, "active": active_days, "new_from": at - timedelta(days=new_days)}
    return bind(sql, params)


def activity_states_sql(
    dates: Sequence[date],
    new_days: int = 90,
    active_days: int = 90,
    lapsed_days: int = 180,
    ids: str | None = None,
    tx: str = "transactions",
    subs: str = "subscriptions",
) -> str:
    """``customer_id, as_of, segment`` activity rows at each of ``dates`` (at least one)."""
    if not 0 < active_days <= lapsed_days:
        raise BadValueError(f"need 0 < active_days <= lapsed_days, got {active_days} and {lapsed_days}")
    if not dates:
        raise BadValueError("activity states need at least one date")
    parts = [_activity_sql(d, new_days, active_days, lapsed_days, ids, tx, subs) for d in dates]
    return " UNION ALL ".join(f"({p})" for p in parts)


def _states(sql: str, tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return run_local(sql, tables).cast(STATE_SCHEMA)  # type: ignore[arg-type]


def grade_states(scores: Frame, score: str = "clv") -> pl.DataFrame:
    """``customer_id, as_of, segment`` from the grades of ``score`` (``value`` means ``clv``)."""
    frame = lazy(scores)
    require(frame, ("customer_id", "as_of", "score", "grade"), "the scores table")
    return _states(grade_states_sql(score), {"scores": frame.collect()})


def activity_states(
    transactions: Frame,
    subscriptions: Frame,
    dates: Sequence[date],
    new_days: int = 90,
    active_days: int = 90,
    lapsed_days: int = 180,
) -> pl.DataFrame:
    """``customer_id, as_of, segment`` activity state of every customer known at each date."""
    if not 0 < active_days <= lapsed_days:
        raise BadValueError(f"need 0 < active_days <= lapsed_days, got {active_days} and {lapsed_days}")
    tx = lazy(transactions)
    require(tx, ("customer_id", "ts", "amount"), "the transactions table")
    subs = lazy(subscriptions)
    require(subs, ("customer_id", "start", "end"), "the subscriptions table")
    if not dates:
        return pl.DataFrame(schema=STATE_SCHEMA)
    sql = activity_states_sql(dates, new_days, active_days, lapsed_days)
    return _states(sql, {"transactions": tx.collect(), "subscriptions": subs.collect()})


def stage_states(membership: Frame) -> pl.DataFrame:
    """``customer_id, as_of, segment``: the life-cycle stage of each stored segment refresh.

    The stages are those of ``cvm.yaml`` (``segments.lifecycle``), as ``cvm segments refresh`` and
    ``cvm run`` store them in ``segment_membership`` (``stage:<name>`` rows): the same words with
    the same definitions as the Segments page and the plans.
    """
    frame = lazy(membership)
    require(frame, ("customer_id", "as_of", "segment"), "the segment_membership table")
    return _states(stage_states_sql() + " ORDER BY customer_id, as_of", {"segment_membership": frame.collect()})


def matrix_sql(states: str, date_from: date, date_to: date) -> str:
    """Customers per (state at ``date_from``, state at ``date_to``) of the ``states`` rows' query.

    A customer's state at a date is its latest row on or before it; none is ``(none)``.
    """

    def at(day: str) -> str:
        newest = "row_number() OVER (PARTITION BY customer_id ORDER BY as_of DESC)"
        return (
            f"SELECT customer_id, segment FROM (SELECT customer_id, segment, {newest} AS rn FROM st "
            f"WHERE as_of <= ${day}) r WHERE rn = 1"
        )

    none = _text(NONE)
    sql = (
        f"WITH st AS ({states}), st_from AS ({at('date_from')}), st_to AS ({at('date_to')}) "
        f"SELECT coalesce(b.segment, {none}) AS from_segment, coalesce(a.segment, {none}) AS to_segment, "
        "count(*) AS customers FROM st_from b FULL OUTER JOIN st_to a ON b.customer_id = a.customer_id "
        "GROUP BY 1, 2"
    )
    return bind(sql, {"date_from": date_from, "date_to": date_to})


def matrix_table(
    run: Runner, states: str, date_from: date, date_to: date, order: Sequence[str] | None = None
) -> pl.DataFrame:
    """:func:`migration_matrix` of the ``states`` query, run by ``run`` (an offline backend)."""
    if date_to < date_from:
        raise BadValueError(f"date_to {date_to} is before date_from {date_from}")
    cells = run(matrix_sql(states, date_from, date_to)).cast(
        {"from_segment": pl.Utf8, "to_segment": pl.Utf8, "customers": pl.Int64}
    )
    order = tuple(order or ())
    cells = cells.with_columns(segment_key=pl.col("from_segment")).with_columns(_rank(order).alias("kf"))
    cells = cells.with_columns(segment_key=pl.col("to_segment")).with_columns(_rank(order).alias("kt"))
    cells = cells.sort("kf", "from_segment", "kt", "to_segment").drop("segment_key", "kf", "kt")
    return cells.with_columns(share=pl.col("customers") / pl.col("customers").sum().over("from_segment"))


def _rank(order: Sequence[str]) -> pl.Expr:
    """Sort key: (none) first, then ``order``, then the rest alphabetically."""
    known = {name: i + 1 for i, name in enumerate(order)}
    known[NONE] = 0
    return pl.col("segment_key").replace_strict(known, default=len(known) + 1, return_dtype=pl.Int64)


def migration_matrix(states: Frame, date_from: date, date_to: date, order: Sequence[str] | None = None) -> pl.DataFrame:
    """Customers moving from each state at ``date_from`` to each state at ``date_to``.

    Returns
    -------
    polars.DataFrame
        ``from_segment, to_segment, customers, share`` (share of the ``from_segment`` row), one row
        per non-empty cell, ``(none)`` for customers without a state at a date.

    Examples
    --------
    >>> s = pl.DataFrame({"customer_id": ["a", "a", "b"], "as_of": [date(2024, 1, 1), date(2024, 6, 1),
    ...     date(2024, 6, 1)], "segment": ["low", "high", "low"]})
    >>> migration_matrix(s, date(2024, 3, 1), date(2024, 7, 1), GRADES).rows()
    [('(none)', 'low', 1, 1.0), ('low', 'high', 1, 1.0)]
    """
    frame = lazy(states)
    require(frame, ("customer_id", "as_of", "segment"), "the states frame")
    rows = frame.select("customer_id", "as_of", "segment").collect()
    query = "SELECT customer_id, as_of, segment FROM states"
    return matrix_table(lambda sql: run_local(sql, {"states": rows}), query, date_from, date_to, order)


def migration_pivot(matrix: pl.DataFrame, value: str = "customers") -> pl.DataFrame:
    """One row per ``from_segment``, one column per ``to_segment`` (0 where nobody moved)."""
    if matrix.height == 0:
        return pl.DataFrame(schema={"from_segment": pl.Utf8})
    wide = matrix.pivot(on="to_segment", index="from_segment", values=value, sort_columns=False)
    return wide.fill_null(0)
