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

from cvm.errors import BadValueError
from cvm.reporting.periods import Frame, lazy, require

ACTIVITY_STATES = ("new", "active", "at_risk", "lapsed")
GRADES = ("low", "medium", "high")
NONE = "(none)"
STATE_SCHEMA = {"customer_id": pl.Utf8, "as_of": pl.Date, "segment": pl.Utf8}


def grade_states(scores: Frame, score: str = "clv") -> pl.DataFrame:
    """``customer_id, as_of, segment`` from the grades of ``score`` (``value`` means ``clv``)."""
    frame = lazy(scores)
    require(frame, ("customer_id", "as_of", "score", "grade"), "the scores table")
    name = "clv" if score == "value" else score
    return (
        frame.filter((pl.col("score") == name) & pl.col("grade").is_not_null())
        .select("customer_id", "as_of", segment="grade")
        .collect()
    )


def _activity_at(
    tx: pl.LazyFrame, subs: pl.LazyFrame, at: date, new_days: int, active_days: int, lapsed_days: int
) -> pl.LazyFrame:
    buys = (
        tx.filter(pl.col("d") <= at).group_by("customer_id").agg(first_tx=pl.col("d").min(), last_tx=pl.col("d").max())
    )
    ended = pl.col("end").is_not_null() & (pl.col("end") <= at)
    held = (
        subs.filter(pl.col("start") <= at)
        .group_by("customer_id")
        .agg(first_sub=pl.col("start").min(), live=(~ended).any(), last_end=pl.col("end").filter(ended).max())
    )
    both = buys.join(held, on="customer_id", how="full", coalesce=True)
    live = pl.col("live").fill_null(False)
    first = pl.min_horizontal("first_tx", "first_sub")
    contract_churn = (
        ~live
        & pl.col("last_end").is_not_null()
        & (pl.col("last_tx").is_null() | (pl.col("last_tx") <= pl.col("last_end")))
    )
    since = (pl.lit(at) - pl.col("last_tx")).dt.total_days()
    state = (
        pl.when(contract_churn | (~live & (pl.col("last_tx").is_null() | (since > lapsed_days))))
        .then(pl.lit("lapsed"))
        .when(first > at - timedelta(days=new_days))
        .then(pl.lit("new"))
        .when(live | (since <= active_days))
        .then(pl.lit("active"))
        .otherwise(pl.lit("at_risk"))
    )
    return both.select("customer_id", as_of=pl.lit(at), segment=state)


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
    tx = tx.filter(pl.col("amount") > 0).select("customer_id", d=pl.col("ts").dt.date())
    subs = lazy(subscriptions)
    require(subs, ("customer_id", "start", "end"), "the subscriptions table")
    parts = [_activity_at(tx, subs, d, new_days, active_days, lapsed_days) for d in dates]
    if not parts:
        return pl.DataFrame(schema=STATE_SCHEMA)
    return pl.concat(parts).collect().cast(STATE_SCHEMA)  # type: ignore[arg-type]


def stage_states(membership: Frame) -> pl.DataFrame:
    """``customer_id, as_of, segment``: the life-cycle stage of each stored segment refresh.

    The stages are those of ``cvm.yaml`` (``segments.lifecycle``), as ``cvm segments refresh`` and
    ``cvm run`` store them in ``segment_membership`` (``stage:<name>`` rows): the same words with
    the same definitions as the Segments page and the plans.
    """
    frame = lazy(membership)
    require(frame, ("customer_id", "as_of", "segment"), "the segment_membership table")
    return (
        frame.filter(pl.col("segment").str.starts_with("stage:"))
        .select("customer_id", "as_of", segment=pl.col("segment").str.strip_prefix("stage:"))
        .collect()
        .cast(STATE_SCHEMA)  # type: ignore[arg-type]
    )


def states_at(states: Frame, at: date) -> pl.LazyFrame:
    """Each customer's latest state on or before ``at``: ``customer_id, segment``."""
    frame = lazy(states)
    require(frame, ("customer_id", "as_of", "segment"), "the states frame")
    return (
        frame.filter(pl.col("as_of") <= at)
        .sort("customer_id", "as_of")
        .group_by("customer_id", maintain_order=True)
        .last()
        .select("customer_id", "segment")
    )


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
    if date_to < date_from:
        raise BadValueError(f"date_to {date_to} is before date_from {date_from}")
    before = states_at(states, date_from).rename({"segment": "from_segment"})
    after = states_at(states, date_to).rename({"segment": "to_segment"})
    moves = before.join(after, on="customer_id", how="full", coalesce=True).with_columns(
        pl.col("from_segment").fill_null(NONE), pl.col("to_segment").fill_null(NONE)
    )
    cells = moves.group_by("from_segment", "to_segment").agg(customers=pl.len().cast(pl.Int64)).collect()
    order = tuple(order or ())
    key_from = _rank(order).alias("kf")
    cells = cells.with_columns(segment_key=pl.col("from_segment")).with_columns(key_from)
    cells = cells.with_columns(segment_key=pl.col("to_segment")).with_columns(_rank(order).alias("kt"))
    cells = cells.sort("kf", "from_segment", "kt", "to_segment").drop("segment_key", "kf", "kt")
    return cells.with_columns(share=pl.col("customers") / pl.col("customers").sum().over("from_segment"))


def migration_pivot(matrix: pl.DataFrame, value: str = "customers") -> pl.DataFrame:
    """One row per ``from_segment``, one column per ``to_segment`` (0 where nobody moved)."""
    if matrix.height == 0:
        return pl.DataFrame(schema={"from_segment": pl.Utf8})
    wide = matrix.pivot(on="to_segment", index="from_segment", values=value, sort_columns=False)
    return wide.fill_null(0)
