"""Reporting periods (month, quarter, year) and exact money in integer cents.

A period is an integer index: ``year * 12 + month - 1`` for months, ``year * 4 + quarter - 1`` for
quarters and ``year`` for years, so that "the next period" is always ``index + 1``. Dates are taken in
UTC, as the offline store keeps them.

Money is summed as integer cents (``round(amount * 100)``, half away from zero) so that totals and
the growth-accounting identity are exact; it is returned as ``Decimal(38, 2)`` columns.

Examples
--------
>>> import polars as pl
>>> from datetime import date
>>> df = pl.DataFrame({"d": [date(2024, 2, 29)]})
>>> df.select(p=period_index(pl.col("d"), "Q")).with_columns(label=period_label(pl.col("p"), "Q")).row(0)
(8096, '2024-Q1')
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeAlias

import pandas as pd
import polars as pl

PeriodCode: TypeAlias = Literal["M", "Q", "Y"]
Frame: TypeAlias = pl.DataFrame | pl.LazyFrame | pd.DataFrame
MONEY = pl.Decimal(38, 2)

_ALIASES: dict[str, PeriodCode] = {
    "m": "M",
    "month": "M",
    "monthly": "M",
    "q": "Q",
    "quarter": "Q",
    "quarterly": "Q",
    "y": "Y",
    "a": "Y",
    "year": "Y",
    "yearly": "Y",
    "annual": "Y",
}
_PER_YEAR: dict[PeriodCode, int] = {"M": 12, "Q": 4, "Y": 1}


def period_code(period: str) -> PeriodCode:
    """Normalise ``"M" | "Q" | "Y"`` or ``month | quarter | year`` to a period code."""
    try:
        return _ALIASES[period.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown period {period!r}; use month, quarter or year (M, Q, Y)") from None


def period_index(dates: pl.Expr, code: PeriodCode) -> pl.Expr:
    """Integer index of the period holding each date (or timestamp)."""
    year = dates.dt.year().cast(pl.Int64)
    month = dates.dt.month().cast(pl.Int64)
    if code == "M":
        return year * 12 + month - 1
    if code == "Q":
        return year * 4 + (month - 1) // 3
    return year


def period_start(index: pl.Expr, code: PeriodCode) -> pl.Expr:
    """First day of the period ``index``."""
    per = _PER_YEAR[code]
    year = index // per
    month = (index % per) * (12 // per) + 1
    return pl.date(year, month, 1)


def period_end(index: pl.Expr, code: PeriodCode) -> pl.Expr:
    """Last day of the period ``index``."""
    return period_start(index + 1, code).dt.offset_by("-1d")


def period_label(index: pl.Expr, code: PeriodCode) -> pl.Expr:
    """``2024-01``, ``2024-Q1`` or ``2024``."""
    per = _PER_YEAR[code]
    year = (index // per).cast(pl.Utf8)
    if code == "M":
        return pl.concat_str(year, pl.lit("-"), (index % 12 + 1).cast(pl.Utf8).str.zfill(2))
    if code == "Q":
        return pl.concat_str(year, pl.lit("-Q"), (index % 4 + 1).cast(pl.Utf8))
    return year


def with_period_columns(frame: pl.DataFrame, code: PeriodCode, index: str = "p") -> pl.DataFrame:
    """Add ``period`` (label) and ``period_start`` (date) from an index column, dropping the index."""
    return frame.with_columns(
        period=period_label(pl.col(index), code), period_start=period_start(pl.col(index), code)
    ).drop(index)


def final_day(as_of: date | None, today: date | None = None) -> date:
    """The last day whose data is final: ``as_of`` (the end of the data), but never today or later.

    The one rule behind "the current complete period" (CLI, JSON, dashboard, HTML report): a period
    is **complete** when its last day is on or before this day, and **partial** otherwise. A workspace
    whose data stops on 15 March has a partial March even if it is read a year later (the rest of March
    was never loaded); data that runs to today leaves the running period partial.
    """
    yesterday = (today or datetime.now(UTC).date()) - timedelta(days=1)
    return yesterday if as_of is None else min(as_of, yesterday)


def complete_expr(starts: pl.Expr, code: PeriodCode, through: date) -> pl.Expr:
    """Whether the period beginning on each date of ``starts`` is complete by ``through`` (:func:`final_day`)."""
    step = {"M": "1mo", "Q": "3mo", "Y": "1y"}[code]
    return starts.dt.offset_by(step).dt.offset_by("-1d") <= through


def current_complete(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest row not marked ``partial`` (rows of a report table, oldest first), else ``None``."""
    return next((r for r in reversed(rows) if not r.get("partial")), None)


def to_cents(amount: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Exact integer cents of a money column (floats are rounded half away from zero)."""
    if isinstance(dtype, pl.Decimal):
        return (amount * 100).round(0).cast(pl.Int64)
    scaled = amount.cast(pl.Float64) * 100.0
    return (scaled.sign() * (scaled.abs() + 0.5).floor()).cast(pl.Int64)


def money(cents: pl.Expr) -> pl.Expr:
    """Integer cents as an exact ``Decimal(38, 2)`` amount."""
    return cents.cast(MONEY) / 100


def lazy(frame: Frame) -> pl.LazyFrame:
    """Any supported frame (Polars eager or lazy, pandas) as a Polars ``LazyFrame``."""
    if isinstance(frame, pl.LazyFrame):
        return frame
    if isinstance(frame, pl.DataFrame):
        return frame.lazy()
    if isinstance(frame, pd.DataFrame):
        return pl.from_pandas(frame).lazy()
    raise TypeError(f"expected a Polars or pandas data frame, got {type(frame).__name__}")


def require(frame: pl.LazyFrame, columns: tuple[str, ...] | list[str], what: str) -> dict[str, Any]:
    """Check that ``frame`` has ``columns``; return its schema, or raise naming the missing ones."""
    schema = dict(frame.collect_schema())
    missing = [c for c in columns if c not in schema]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {', '.join(missing)}; it has {', '.join(schema)}")
    return schema
