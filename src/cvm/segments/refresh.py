"""Refreshing segments: attribute base, derived columns, membership history and transitions.

A refresh as of a date is one query in DuckDB's dialect (values bound as literals), run by the offline
backend (:mod:`cvm.store.backend`: DuckDB, or Spark transpiled by sqlglot): the attribute base, the derived
segment columns, the long membership rows (``customer_id, segment``) and the difference with the newest
earlier snapshot (who entered and who left each segment), as CTEs. The membership of that date
is then written to its ``as_of`` partition of ``segment_membership`` (replacing an earlier refresh of
the same date, leaving other dates untouched) in one offline-store transaction. The plans, which read the
segmented base next, run the same statements as temporary tables on one DuckDB connection
(:func:`compute_membership`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import polars as pl
from sqlglot import exp

from cvm.config.plans import SegmentsConfig
from cvm.rules.bind import bind
from cvm.segments.attributes import base_params, base_query, uplift_scores
from cvm.segments.compute import SegmentModel
from cvm.store import OfflineStore
from cvm.store.backend import DuckDBBackend, OfflineBackend


@dataclass(frozen=True)
class SegmentReport:
    """What a refresh found: sizes, entries and exits per segment, and timings."""

    as_of: date
    previous_as_of: date | None
    customers: int
    counts: dict[str, int]
    entered: dict[str, int]
    left: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    transitions: pl.DataFrame = field(default_factory=pl.DataFrame, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "previous_as_of": self.previous_as_of,
            "customers": self.customers,
            "segments": [
                {"segment": s, "customers": n, "entered": self.entered.get(s, 0), "left": self.left.get(s, 0)}
                for s, n in sorted({**dict.fromkeys(self.left, 0), **self.counts}.items())
            ],
            "seconds": self.seconds,
        }


def membership_sql(model: SegmentModel, source: str = "segmented") -> str:
    """SQL of the long membership rows ``(customer_id, segment)`` of a segmented table."""
    src = exp.to_identifier(source, quoted=True).sql("duckdb")
    parts = [
        f"SELECT customer_id, 'stage:' || stage AS segment FROM {src}",
        f"SELECT customer_id, 'value_risk:' || value_risk AS segment FROM {src} WHERE value_risk IS NOT NULL",
    ]
    for col in model.columns:
        if col.startswith("seg_"):
            name = exp.Literal.string(col[len("seg_") :]).sql("duckdb")
            ident = exp.to_identifier(col, quoted=True).sql("duckdb")
            parts.append(f"SELECT customer_id, {name} AS segment FROM {src} WHERE {ident}")
    return "\nUNION ALL\n".join(parts)


def segmented_sql(con: duckdb.DuckDBPyConnection, cfg: SegmentsConfig, as_of: date) -> tuple[SegmentModel, str]:
    """The segment model and the bound SQL of the segmented base (attributes plus segment columns).

    One query in DuckDB's dialect, its values bound as literals (:func:`cvm.rules.bind.bind`), that every
    offline backend runs; ``con`` only looks up which stored columns and uplift scores it reads.
    """
    model = SegmentModel(cfg)
    base = bind(base_query(cfg, uplift_scores(con, as_of)), base_params(cfg, as_of))
    return model, f"WITH attrs AS ({base})\n{model.select('attrs')}"


def segment_base(con: duckdb.DuckDBPyConnection, cfg: SegmentsConfig, as_of: date) -> tuple[SegmentModel, int]:
    """Create the temporary table ``segmented`` (attributes plus segment columns) on ``con``."""
    model, sql = segmented_sql(con, cfg, as_of)
    con.execute(f"CREATE OR REPLACE TEMP TABLE segmented AS {sql}")
    return model, int(con.execute("SELECT count(*) FROM segmented").fetchall()[0][0])


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """The result of ``sql`` as a Polars frame."""
    out: pl.DataFrame = con.sql(sql, params=params or {}).pl()
    return out


def _arrow_frame(table: Any) -> pl.DataFrame:
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    return out


def _previous_sql(as_of: date) -> str:
    return bind("SELECT max(as_of) AS prev FROM segment_membership WHERE as_of < $d", {"d": as_of})


def _changes_sql(model: SegmentModel, as_of: date, prev: date | None) -> list[tuple[str, str]]:
    """The CTEs after ``segmented``: the members, the previous refresh's members and who entered or left."""
    return [
        ("members", membership_sql(model)),
        ("prev_members", bind("SELECT customer_id, segment FROM segment_membership WHERE as_of = $p", {"p": prev})),
        ("transitions",
         "(SELECT customer_id, segment, 'entered' AS change FROM "
         " (SELECT customer_id, segment FROM members EXCEPT SELECT customer_id, segment FROM prev_members) e) "
         "UNION ALL (SELECT customer_id, segment, 'left' AS change FROM "
         " (SELECT customer_id, segment FROM prev_members EXCEPT SELECT customer_id, segment FROM members) l)"),
    ]  # fmt: skip


#: Every row a refresh needs back: the members (``change`` null) and the transitions.
_ROWS = (
    "SELECT customer_id, segment, CAST(NULL AS VARCHAR) AS change FROM members "
    "UNION ALL SELECT customer_id, segment, change FROM transitions"
)


def _report(rows: pl.DataFrame, as_of: date, prev: date | None, customers: int, seconds: dict[str, float]) -> tuple[
    SegmentReport, pl.DataFrame
]:  # fmt: skip
    """The report and the membership rows of ``as_of`` from the :data:`_ROWS` of a refresh."""
    rows = rows.cast({"customer_id": pl.Utf8, "segment": pl.Utf8, "change": pl.Utf8})

    def counts(part: pl.DataFrame) -> dict[str, int]:
        return {str(s): int(n) for s, n in part.group_by("segment").len().iter_rows()}

    members = rows.filter(pl.col("change").is_null())
    changes = rows.filter(pl.col("change").is_not_null()).select("customer_id", "segment", "change")
    report = SegmentReport(
        as_of=as_of,
        previous_as_of=prev,
        customers=customers,
        counts=counts(members),
        entered=counts(changes.filter(pl.col("change") == "entered")) if prev is not None else {},
        left=counts(changes.filter(pl.col("change") == "left")),
        seconds=seconds,
        transitions=changes.sort("customer_id", "segment", "change")
        if prev is not None
        else pl.DataFrame(schema={"customer_id": pl.Utf8, "segment": pl.Utf8, "change": pl.Utf8}),
    )
    out = members.select("customer_id", pl.lit(as_of).alias("as_of"), "segment")
    return report, out


def compute_membership(
    con: duckdb.DuckDBPyConnection, cfg: SegmentsConfig, as_of: date
) -> tuple[SegmentReport, pl.DataFrame]:
    """Segment the base as of ``as_of`` on an open store connection; return the report and the new rows.

    The temporary table ``segmented`` stays on ``con`` for the plans that read it next.
    """
    t0 = time.perf_counter()
    model, customers = segment_base(con, cfg, as_of)
    t1 = time.perf_counter()
    prev = _date(frame(con, _previous_sql(as_of)))
    for name, sql in _changes_sql(model, as_of, prev):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
    rows = frame(con, _ROWS)
    t2 = time.perf_counter()
    return _report(rows, as_of, prev, customers, {"attributes": round(t1 - t0, 3), "segments": round(t2 - t1, 3)})


def membership_on(backend: OfflineBackend, cfg: SegmentsConfig, as_of: date) -> tuple[SegmentReport, pl.DataFrame]:
    """:func:`compute_membership` as queries on an offline backend (DuckDB or Spark): the same SQL, as CTEs."""
    t0 = time.perf_counter()
    with backend.store.connect() as con:
        model, segmented = segmented_sql(con, cfg, as_of)
    prev = _date(_arrow_frame(backend.query(_previous_sql(as_of))))
    ctes = [("segmented", segmented), *_changes_sql(model, as_of, prev)]
    with_ = "WITH " + ",\n".join(f"{name} AS ({sql})" for name, sql in ctes)
    rows = _arrow_frame(backend.query(f"{with_}\n{_ROWS}"))
    customers = rows.filter(pl.col("change").is_null() & pl.col("segment").str.starts_with("stage:")).height
    seconds = {"segments": round(time.perf_counter() - t0, 3)}
    return _report(rows, as_of, prev, customers, seconds)  # every customer has exactly one stage


def _date(table: pl.DataFrame) -> date | None:
    value = table.item(0, 0) if table.height else None
    return value if isinstance(value, date) else None


def write_membership(store: OfflineStore, as_of: date, rows: pl.DataFrame) -> None:
    """Store the membership of ``as_of`` in its partition, replacing an earlier refresh of the same date.

    Only that partition is written (other dates are neither read nor rewritten), in one atomic commit.
    """
    with store.transaction() as tx:
        tx.overwrite_partition("segment_membership", as_of, rows)


def refresh_segments(
    store: OfflineStore, cfg: SegmentsConfig, as_of: date, backend: OfflineBackend | None = None
) -> SegmentReport:
    """Compute and store the segments of every customer as of ``as_of`` (on ``backend``, DuckDB by default)."""
    report, rows = membership_on(backend or DuckDBBackend(store), cfg, as_of)
    t = time.perf_counter()
    write_membership(store, as_of, rows)
    report.seconds["write"] = round(time.perf_counter() - t, 3)
    return report
