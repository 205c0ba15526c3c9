"""Report filters and segments: customer attributes (kind, channel, region, sector) and score grades.

A :class:`ReportFilter` selects customers by joining the ``customers`` table (and ``scores`` for a
segment); every report input is then restricted to those customers with a semi-join. Segments are
score grades for now: ``"value:high"`` is the latest ``clv`` grade ``high`` (``value`` is an alias of
``clv``; any score name works, e.g. ``"churn:high"``). Segments proper arrive with a later issue.

Examples
--------
>>> f = ReportFilter(kind="B2B", channel=("direct", "distribution"))
>>> f.to_dict()
{'kind': ['B2B'], 'channel': ['direct', 'distribution']}
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import polars as pl
from sqlglot import exp

from cvm.errors import BadValueError
from cvm.reporting.periods import Frame, lazy, require

ATTRIBUTES = ("kind", "channel", "region", "sector")
SCORE_ALIASES = {"value": "clv"}
UNKNOWN = "(unknown)"


def _values(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = (value,) if isinstance(value, str) else tuple(value)
    out = tuple(v.strip() for item in items for v in item.split(",") if v.strip())
    return out or None


def parse_segment(segment: str) -> tuple[str, tuple[str, ...]]:
    """``"value:high"`` -> ``("clv", ("high",))``; several grades are comma-separated."""
    score, sep, grades = segment.partition(":")
    values = _values(grades)
    if not sep or not score.strip() or not values:
        raise BadValueError(f"segment {segment!r}: expected SCORE:GRADE such as value:high or churn:low,medium")
    return SCORE_ALIASES.get(score.strip(), score.strip()), values


@dataclass(frozen=True)
class ReportFilter:
    """Which customers a report covers; ``None`` fields do not filter. Values in a field are OR-ed."""

    kind: tuple[str, ...] | None = None
    channel: tuple[str, ...] | None = None
    region: tuple[str, ...] | None = None
    sector: tuple[str, ...] | None = None
    segment: str | None = None

    def __init__(
        self,
        kind: str | tuple[str, ...] | list[str] | None = None,
        channel: str | tuple[str, ...] | list[str] | None = None,
        region: str | tuple[str, ...] | list[str] | None = None,
        sector: str | tuple[str, ...] | list[str] | None = None,
        segment: str | None = None,
    ) -> None:
        for name, value in (("kind", kind), ("channel", channel), ("region", region), ("sector", sector)):
            object.__setattr__(self, name, _values(value))
        if segment is not None:
            parse_segment(segment)
        object.__setattr__(self, "segment", segment or None)

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        """The fields that filter, JSON-ready."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def sql(self) -> str | None:
        """The query of the selected ``customer_id`` (over ``customers`` and ``scores``), None when nothing is filtered.

        Written once in DuckDB's dialect for every offline backend; the values are sqlglot literals.
        """
        if self.empty:
            return None
        where: list[exp.Expression] = [exp.true()]
        for name in ATTRIBUTES:
            values = getattr(self, name)
            if values is not None:
                where.append(exp.column(name).isin(*(exp.Literal.string(v) for v in values)))
        if self.segment is not None:
            score, grades = parse_segment(self.segment)
            graded = exp.select("customer_id").from_(latest_sql(score).subquery("s"))
            graded = graded.where(exp.column("grade").isin(*(exp.Literal.string(g) for g in grades)))
            where.append(exp.column("customer_id").isin(query=graded))
        query = exp.select("customer_id").from_("customers").where(exp.and_(*where))
        return query.sql(dialect="duckdb")

    def customer_ids(self, customers: Frame, scores: Frame | None = None) -> pl.LazyFrame | None:
        """The ``customer_id`` of the selected customers, or ``None`` when nothing is filtered (:meth:`sql`)."""
        sql = self.sql()
        if sql is None:
            return None
        frame = lazy(customers)
        require(frame, ("customer_id", *ATTRIBUTES), "the customers table")
        if self.segment is not None and scores is None:
            raise BadValueError(f"segment {self.segment!r} needs the scores table")
        tables = {"customers": frame.collect()}
        if scores is not None:
            tables["scores"] = lazy(scores).collect()
        from cvm.reporting.queries import run_local

        return run_local(sql, tables).lazy()

    def apply(self, frame: Frame, ids: pl.LazyFrame | None, customer_col: str = "customer_id") -> pl.LazyFrame:
        """Keep the rows of ``frame`` whose customer is in ``ids`` (all rows when ``ids`` is None)."""
        out = lazy(frame)
        if ids is None:
            return out
        return out.join(ids.rename({"customer_id": customer_col}), on=customer_col, how="semi")


def latest_sql(score: str, as_of: date | None = None) -> exp.Select:
    """Each customer's latest row of ``score`` (on or before ``as_of``): ``customer_id, as_of, value, grade``.

    A query on ``scores``.
    """
    newest = exp.Window(
        this=exp.RowNumber(),
        partition_by=[exp.column("customer_id")],
        order=exp.Order(expressions=[exp.Ordered(this=exp.column("as_of"), desc=True)]),
    )
    ranked = (
        exp.select("customer_id", "as_of", "value", "grade", exp.alias_(newest, "rn"))
        .from_("scores")
        .where(exp.column("score").eq(exp.Literal.string(SCORE_ALIASES.get(score, score))))
    )
    if as_of is not None:
        ranked = ranked.where(exp.column("as_of") <= exp.cast(exp.Literal.string(as_of.isoformat()), "DATE"))
    return exp.select("customer_id", "as_of", "value", "grade").from_(ranked.subquery("r")).where("rn = 1")


def latest_scores(scores: Frame, score: str, as_of: date | None = None) -> pl.LazyFrame:
    """Each customer's latest row of ``score`` (on or before ``as_of``): ``customer_id, as_of, value, grade``."""
    frame = lazy(scores)
    require(frame, ("customer_id", "as_of", "score", "value", "grade"), "the scores table")
    frame = frame.filter(pl.col("score") == SCORE_ALIASES.get(score, score))
    if as_of is not None:
        frame = frame.filter(pl.col("as_of") <= as_of)
    return (
        frame.sort("customer_id", "as_of")
        .group_by("customer_id", maintain_order=True)
        .last()
        .select("customer_id", "as_of", "value", "grade")
    )


def segment_sql(by: str) -> str:
    """The query of ``customer_id, segment`` (over ``customers`` and ``scores``) for :func:`segment_of`."""
    unknown = exp.Literal.string(UNKNOWN)
    if by in ATTRIBUTES:
        value = exp.func("coalesce", exp.cast(exp.column(by), "VARCHAR"), unknown)
        return exp.select("customer_id", exp.alias_(value, "segment")).from_("customers").sql(dialect="duckdb")
    score = "clv" if by == "value_grade" else by.removeprefix("grade:") if by.startswith("grade:") else None
    if score is None:
        raise BadValueError(f"unknown segment {by!r}; use {', '.join(ATTRIBUTES)}, value_grade or grade:SCORE")
    grade = exp.func("coalesce", exp.column("grade", "g"), unknown)
    query = (
        exp.select(exp.column("customer_id", "c"), exp.alias_(grade, "segment"))
        .from_(exp.to_table("customers").as_("c"))
        .join(latest_sql(score).subquery("g"), on="c.customer_id = g.customer_id", join_type="left")
    )
    return query.sql(dialect="duckdb")


def segment_of(customers: Frame, scores: Frame | None, by: str) -> pl.LazyFrame:
    """``customer_id, segment`` for a customer attribute (kind, channel, region, sector) or a grade.

    ``by`` is an attribute name, ``value_grade`` (the latest clv grade) or ``grade:SCORE``. Customers
    without a value get ``"(unknown)"``. The query of :func:`segment_sql`, on an in-process DuckDB.
    """
    sql = segment_sql(by)
    frame = lazy(customers)
    tables = {"customers": frame.collect()}
    if by in ATTRIBUTES:
        require(frame, ("customer_id", by), "the customers table")
    elif scores is None:
        raise BadValueError(f"segment {by!r} needs the scores table")
    else:
        tables["scores"] = lazy(scores).collect()
    from cvm.reporting.queries import run_local

    return run_local(sql, tables).lazy()
