"""Refreshing segments: attribute base, derived columns, membership history and transitions.

A refresh as of a date is a few statements in DuckDB's dialect (values bound as literals): the attribute
base and the derived segment columns (``segmented``), the long membership rows (``customer_id, segment``)
and the difference with the newest earlier snapshot (who entered and who left each segment). On DuckDB they
are temporary tables of one connection (:func:`compute_membership`), which the plans then read; on Spark
(transpiled by sqlglot) they are CTEs over the session's view ``segmented`` (:func:`membership_on`). Only the
segment sizes and the changed customers come back to this process. The membership of that date is written
where it was computed (:func:`write_members`, :func:`store_on`) to its ``as_of`` partition of
``segment_membership``, replacing an earlier refresh of the same date and leaving other dates untouched, in
one offline-store transaction.
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
from cvm.store.backend import OfflineBackend


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


def _date(table: pl.DataFrame) -> date | None:
    value = table.item(0, 0) if table.height else None
    return value if isinstance(value, date) else None


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


#: Every membership row of a refresh (``change`` null) and every transition, for :data:`_COUNTS`.
_ROWS = (
    "SELECT customer_id, segment, CAST(NULL AS VARCHAR) AS change FROM members "
    "UNION ALL SELECT customer_id, segment, change FROM transitions"
)


#: Segment sizes and changes, counted where the rows are: ``change`` null for the members.
_COUNTS = f"SELECT segment, change, count(*) AS n FROM ({_ROWS}) r GROUP BY segment, change"
_TRANSITIONS = "SELECT customer_id, segment, change FROM transitions"
_NO_TRANSITIONS = pl.DataFrame(schema={"customer_id": pl.Utf8, "segment": pl.Utf8, "change": pl.Utf8})


def members_sql(as_of: date) -> str:
    """The rows of ``segment_membership`` for ``as_of``, from the ``members`` of a refresh."""
    return bind("SELECT customer_id, CAST($d AS DATE) AS as_of, segment FROM members", {"d": as_of})


def _report(counts: pl.DataFrame, transitions: pl.DataFrame, as_of: date, prev: date | None,
            seconds: dict[str, float]) -> SegmentReport:  # fmt: skip
    """The report of a refresh from its :data:`_COUNTS` and (only the changed customers') transitions."""
    counts = counts.cast({"segment": pl.Utf8, "change": pl.Utf8, "n": pl.Int64})

    def by_segment(change: str | None) -> dict[str, int]:
        part = counts.filter(pl.col("change").is_null() if change is None else pl.col("change") == change)
        return {str(s): int(n) for s, n in part.select("segment", "n").iter_rows()}

    members = by_segment(None)
    transitions = transitions.cast({"customer_id": pl.Utf8, "segment": pl.Utf8, "change": pl.Utf8})
    return SegmentReport(
        as_of=as_of,
        previous_as_of=prev,
        customers=sum(n for s, n in members.items() if s.startswith("stage:")),  # exactly one stage each
        counts=members,
        entered=by_segment("entered") if prev is not None else {},
        left=by_segment("left"),
        seconds=seconds,
        transitions=transitions.sort("customer_id", "segment", "change") if prev is not None else _NO_TRANSITIONS,
    )


def compute_membership(con: duckdb.DuckDBPyConnection, cfg: SegmentsConfig, as_of: date) -> SegmentReport:
    """Segment the base as of ``as_of`` on an open store connection, and report sizes and changes.

    The temporary tables ``segmented`` (for the plans that read it next) and ``members`` (for
    :func:`write_members`) stay on ``con``; only the counts and the changed customers come back.
    """
    t0 = time.perf_counter()
    model, _ = segment_base(con, cfg, as_of)
    t1 = time.perf_counter()
    prev = _date(frame(con, _previous_sql(as_of)))
    for name, sql in _changes_sql(model, as_of, prev):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
    counts = frame(con, _COUNTS)
    transitions = frame(con, _TRANSITIONS) if prev is not None else _NO_TRANSITIONS
    seconds = {"attributes": round(t1 - t0, 3), "segments": round(time.perf_counter() - t1, 3)}
    return _report(counts, transitions, as_of, prev, seconds)


def write_members(store: OfflineStore, con: duckdb.DuckDBPyConnection, as_of: date, batch_rows: int = 250_000) -> None:
    """Store the ``members`` of ``con`` (:func:`compute_membership`) in the ``as_of`` partition, batch by batch.

    Only that partition is replaced (other dates are neither read nor rewritten), in one atomic commit.
    """
    with store.transaction() as tx:
        tx.drop_partition("segment_membership", as_of)
        for batch in con.sql(members_sql(as_of)).to_arrow_reader(batch_rows):
            rows = _arrow_frame(batch)
            tx.check_partition("segment_membership", as_of, rows)
            tx.append("segment_membership", rows)


def _same(batch: Any) -> Any:
    return batch


def membership_on(
    backend: OfflineBackend, con: duckdb.DuckDBPyConnection, cfg: SegmentsConfig, as_of: date
) -> tuple[SegmentReport, str]:
    """Segment the base as of ``as_of`` on Spark: the base becomes the session's cached view ``segmented`` (the
    counts, the changes, the stored membership and the plans read it; :func:`release` drops it), and the report
    comes back with the ``WITH`` clause that defines its ``members`` for :func:`store_on`. ``con`` only looks up
    the stored columns and uplift scores the base reads."""
    t0 = time.perf_counter()
    model, sql = segmented_sql(con, cfg, as_of)
    backend.sql(sql).cache().createOrReplaceTempView("segmented")  # type: ignore[attr-defined]
    prev = _date(_arrow_frame(backend.query(_previous_sql(as_of))))
    with_ = "WITH " + ",\n".join(f"{name} AS ({sql})" for name, sql in _changes_sql(model, as_of, prev))
    counts = _arrow_frame(backend.query(f"{with_}\n{_COUNTS}"))
    transitions = _arrow_frame(backend.query(f"{with_}\n{_TRANSITIONS}")) if prev is not None else _NO_TRANSITIONS
    return _report(counts, transitions, as_of, prev, {"segments": round(time.perf_counter() - t0, 3)}), with_


def release(backend: OfflineBackend) -> None:
    """Drop the Spark view of the segmented base, and with it its cached rows (nothing to do on DuckDB)."""
    if backend.name == "spark":
        backend.spark.catalog.dropTempView("segmented")  # type: ignore[attr-defined]


def store_on(backend: OfflineBackend, with_: str, as_of: date) -> None:
    """Store the ``members`` of ``with_`` (:func:`membership_on`) in the ``as_of`` partition, written where the
    backend computes them: on Spark the rows never come to this process. One atomic commit, as
    :func:`write_members`."""
    with backend.store.transaction() as tx:
        tx.drop_partition("segment_membership", as_of)
        backend.map_into(tx, "segment_membership", f"{with_}\n{members_sql(as_of)}", _same, partition=as_of)


def refresh_segments(
    store: OfflineStore, cfg: SegmentsConfig, as_of: date, backend: OfflineBackend | None = None
) -> SegmentReport:
    """Compute and store the segments of every customer as of ``as_of`` (on ``backend``, DuckDB by default)."""
    if backend is None or backend.name != "spark":
        with store.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            report = compute_membership(con, cfg, as_of)
            t = time.perf_counter()
            write_members(store, con, as_of)
    else:
        try:
            with store.connect() as con:
                report, with_ = membership_on(backend, con, cfg, as_of)
            t = time.perf_counter()
            store_on(backend, with_, as_of)
        finally:
            release(backend)
    report.seconds["write"] = round(time.perf_counter() - t, 3)
    return report
