"""Refreshing segments: attribute base, derived columns, membership history and transitions.

One refresh as of a date runs four SQL statements in one DuckDB connection:
the attribute base, the derived segment columns, the long membership rows
(``customer_id, segment``), and the difference with the newest earlier
snapshot (who entered and who left each segment). The membership of that date
is then written to its ``as_of`` partition of ``segment_membership`` (replacing an
earlier refresh of the same date, leaving other dates untouched) in one offline-store transaction.
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
from cvm.segments.attributes import build_base
from cvm.segments.compute import SegmentModel
from cvm.store import OfflineStore


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


def segment_base(con: duckdb.DuckDBPyConnection, cfg: SegmentsConfig, as_of: date) -> tuple[SegmentModel, int]:
    """Create the temporary tables ``attrs`` and ``segmented`` (attributes plus segment columns)."""
    model = SegmentModel(cfg)
    rows = build_base(con, cfg, as_of, "attrs")
    con.execute(f"CREATE OR REPLACE TEMP TABLE segmented AS {model.select('attrs')}")
    return model, rows


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """The result of ``sql`` as a Polars frame."""
    out: pl.DataFrame = con.sql(sql, params=params or {}).pl()
    return out


def _previous(con: duckdb.DuckDBPyConnection, as_of: date) -> date | None:
    rows = con.execute("SELECT max(as_of) FROM segment_membership WHERE as_of < $d", {"d": as_of}).fetchall()
    value = rows[0][0] if rows else None
    return value if isinstance(value, date) else None


def _counts(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> dict[str, int]:
    return {str(s): int(n) for s, n in con.execute(sql, params or {}).fetchall()}


def compute_membership(
    con: duckdb.DuckDBPyConnection, cfg: SegmentsConfig, as_of: date
) -> tuple[SegmentReport, pl.DataFrame]:
    """Segment the base as of ``as_of`` on an open store connection; return the report and the new rows."""
    t0 = time.perf_counter()
    model, customers = segment_base(con, cfg, as_of)
    t1 = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TEMP TABLE members AS {membership_sql(model)}")
    prev = _previous(con, as_of)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE prev_members AS "
        "SELECT customer_id, segment FROM segment_membership WHERE as_of = $p",
        {"p": prev},
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE transitions AS "
        "(SELECT customer_id, segment, 'entered' AS change FROM "
        " (SELECT customer_id, segment FROM members EXCEPT SELECT customer_id, segment FROM prev_members)) "
        "UNION ALL (SELECT customer_id, segment, 'left' AS change FROM "
        " (SELECT customer_id, segment FROM prev_members EXCEPT SELECT customer_id, segment FROM members))"
    )
    t2 = time.perf_counter()
    entered = _counts(con, "SELECT segment, count(*) FROM transitions WHERE change = 'entered' GROUP BY 1")
    report = SegmentReport(
        as_of=as_of,
        previous_as_of=prev,
        customers=customers,
        counts=_counts(con, "SELECT segment, count(*) FROM members GROUP BY 1"),
        entered=entered if prev is not None else {},
        left=_counts(con, "SELECT segment, count(*) FROM transitions WHERE change = 'left' GROUP BY 1"),
        seconds={"attributes": round(t1 - t0, 3), "segments": round(t2 - t1, 3)},
        transitions=frame(con, "SELECT * FROM transitions ORDER BY customer_id, segment, change")
        if prev is not None
        else pl.DataFrame(schema={"customer_id": pl.Utf8, "segment": pl.Utf8, "change": pl.Utf8}),
    )
    rows = frame(con, "SELECT customer_id, $d AS as_of, segment FROM members", {"d": as_of})
    return report, rows


def write_membership(store: OfflineStore, as_of: date, rows: pl.DataFrame) -> None:
    """Store the membership of ``as_of`` in its partition, replacing an earlier refresh of the same date.

    Only that partition is written (other dates are neither read nor rewritten), in one atomic commit.
    """
    with store.transaction() as tx:
        tx.overwrite_partition("segment_membership", as_of, rows)


def refresh_segments(store: OfflineStore, cfg: SegmentsConfig, as_of: date) -> SegmentReport:
    """Compute and store the segments of every customer as of ``as_of``."""
    con = store.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        report, rows = compute_membership(con, cfg, as_of)
    finally:
        con.close()
    t = time.perf_counter()
    write_membership(store, as_of, rows)
    report.seconds["write"] = round(time.perf_counter() - t, 3)
    return report
