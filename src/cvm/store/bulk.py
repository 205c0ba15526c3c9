"""Batch reads and writes of online-store rows: one statement per batch, values ready for the driver.

For the many small rows of real-time ingestion, SQLAlchemy's per-row parameter handling
costs more than the database work, and PostgreSQL pays a round trip (or a list
parameter adapted element by element) per row. These helpers keep the database work
and drop the rest:

- on SQLite, rows go through one ``executemany`` of tuples, each value converted by its
  column's own SQLAlchemy bind processor (dates and JSON are stored exactly as Core
  stores them);
- on PostgreSQL, plain inserts of many rows stream through ``COPY``; many rows that skip
  conflicts or return ids are copied into a temporary staging table (dropped at commit) and
  moved by one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` (the bulk load of a plan
  batch: a replayed batch adds nothing); a few rows (``COPY`` costs two round trips) and an
  update take the batch as one JSON document that ``json_to_recordset`` expands into typed
  rows inside a single ``INSERT ... SELECT`` or ``UPDATE ... FROM`` statement;
- a list of keys is one JSON array (``json_each`` / ``json_array_elements_text``), so
  PostgreSQL probes the primary-key index for each key instead of scanning the table.

The SQL text only names tables and columns of :mod:`cvm.store.tables`; values are always
bound parameters.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from cvm.contracts import jsontext

COPY_MIN_ROWS = 32
"""PostgreSQL: fewer plain rows than this go in one ``INSERT ... SELECT`` (one round trip, not two)."""
STAGE_MIN_ROWS = 200
"""PostgreSQL: from this many rows, an insert that skips conflicts or returns ids goes through a staging ``COPY``."""
STAGE_PREFIX = "cvm_stage_"
"""Name prefix of the temporary staging tables (``pg_stat_xact_all_tables`` shows their rows until commit)."""
Processor = Callable[[Any], Any]
Converter = Callable[[Sequence[Any]], list[Any]]


def id_list(values: Iterable[str]) -> str:
    """The parameter of :func:`in_ids`: the keys as one JSON array."""
    return jsontext.dumps(list(values))


def in_ids(dialect: str, param: str = "ids") -> str:
    """SQL for ``<column> IN (the keys of the JSON array :param)`` (to follow the column name), for a dialect's name.

    PostgreSQL gets an array built by a sub-select: the planner then expects a few keys
    and probes the index, where a long literal list can make it scan the whole table.

    Statements run per event are built once per dialect and kept (``lru_cache``): a
    statement object remembers its cache key, which SQLAlchemy otherwise computes again
    for each new ``text()`` (with ``text()``'s parsing, about a fifth of a single
    event's CPU on SQLite).
    """
    if dialect == "postgresql":
        return f"= ANY(ARRAY(SELECT json_array_elements_text(CAST(:{param} AS json))))"
    return f"IN (SELECT value FROM json_each(:{param}))"


def _finite(row: Mapping[str, Any], floats: tuple[str, ...]) -> Mapping[str, Any]:
    """JSON has no NaN or infinity: they travel as text, which PostgreSQL's float input reads."""
    odd = {c: row[c] for c in floats if isinstance(row[c], float) and not math.isfinite(row[c])}
    if not odd:
        return row
    return {**row, **{c: "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity") for c, v in odd.items()}}


def _converter(type_: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> Converter | None:
    """The values of one column as SQLAlchemy Core binds them: its bind processor, with two shortcuts.

    JSON is serialized here directly with the dialect's serializer (an empty dict is
    ``{}``); the text of a date is computed once per distinct value of a batch.
    """
    process = type_.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return None
    if isinstance(type_, sa.JSON):
        return partial(_json_values, getattr(dialect, "_json_serializer", None) or json.dumps)
    if dialect.name == "postgresql":  # COPY: the driver adapts the other values itself
        return None
    if isinstance(type_, sa.DateTime):
        return partial(_date_values, process)
    return lambda values: [process(v) for v in values]


def _json_values(dumps: Callable[[Any], str], values: Sequence[Any]) -> list[Any]:
    return ["{}" if type(v) is dict and not v else dumps(v) for v in values]


def _date_values(process: Processor, values: Sequence[Any]) -> list[Any]:
    """Equal datetimes with the same ``tzinfo`` have the same fields, so they share their text."""
    seen: dict[tuple[Any, Any], Any] = {}
    out = []
    for v in values:
        key = (v, getattr(v, "tzinfo", None))
        text = seen.get(key)
        if text is None:
            text = seen[key] = process(v)
        out.append(text)
    return out


@dataclass(frozen=True)
class _Shape:
    """How rows of one table, with given keys, travel to one dialect."""

    names: tuple[str, ...]  # the row keys, in order: columns, then the match parameters
    processors: tuple[Converter | None, ...]  # per key, what turns its values into driver values
    floats: tuple[str, ...]
    record: str  # PostgreSQL: the column definition list of json_to_recordset

    def tuples(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """The rows as tuples of driver values, in key order (converted column by column)."""
        if len(self.names) == 1:  # itemgetter of one key gives the value, not a tuple
            columns: list[Sequence[Any]] = [[r[self.names[0]] for r in rows]]
        else:
            columns = list(zip(*map(itemgetter(*self.names), rows), strict=True))
        for i, convert in enumerate(self.processors):
            if convert is not None:
                columns[i] = convert(columns[i])
        return list(zip(*columns, strict=True))

    def document(self, rows: Sequence[Mapping[str, Any]]) -> str:
        """PostgreSQL: the rows as one JSON array of objects (dates as ISO text; other keys are ignored)."""
        if self.floats:
            rows = [_finite(r, self.floats) for r in rows]
        return jsontext.dumps(rows)  # dates as ISO text, JSON columns as nested documents


@lru_cache(maxsize=256)
def _shape(table: sa.Table, names: tuple[str, ...], match: tuple[tuple[str, str], ...], dialect: sa.Dialect) -> _Shape:
    """``match``: the keys that are not columns of ``table``, as ``(key, column it compares to)``."""
    of = dict(match)
    types = {n: table.c[of.get(n, n)].type for n in names}
    processors = tuple(_converter(types[n], dialect) for n in names)
    floats = tuple(n for n in names if isinstance(types[n], sa.Float))
    quote = dialect.identifier_preparer.quote
    record = ", ".join(f"{quote(n)} {types[n].compile(dialect=dialect)}" for n in names)
    return _Shape(names, processors, floats, record)


def _columns(table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    keys = set(rows[0])
    return tuple(c.name for c in table.columns if c.name in keys)


def insert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_conflicts_on: str | None = None,
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (dicts with the same keys) in one statement; a key conflict raises ``IntegrityError``.

    ``skip_conflicts_on`` names a unique column whose existing values are left alone
    (``ON CONFLICT DO NOTHING``). ``returning`` columns come back for the inserted rows
    (PostgreSQL only).
    """
    if not rows:
        return []
    columns = _columns(table, rows)
    shape = _shape(table, columns, (), conn.dialect)
    q = conn.dialect.identifier_preparer.quote
    names = ", ".join(q(c) for c in columns)
    conflict = f" ON CONFLICT ({q(skip_conflicts_on)}) DO NOTHING" if skip_conflicts_on else ""
    if conn.dialect.name != "postgresql":
        if returning:
            raise ValueError("RETURNING from a batch insert needs PostgreSQL")
        values = ", ".join("?" for _ in columns)
        conn.exec_driver_sql(f"INSERT INTO {q(table.name)} ({names}) VALUES ({values}){conflict}", shape.tuples(rows))
        return []
    if not conflict and not returning and len(rows) >= COPY_MIN_ROWS:
        _copy(conn, f"COPY {q(table.name)} ({names}) FROM STDIN", shape.tuples(rows))
        return []
    back = f" RETURNING {', '.join(q(c) for c in returning)}" if returning else ""
    if len(rows) >= STAGE_MIN_ROWS:
        stage = q(f"{STAGE_PREFIX}{table.name}_{uuid.uuid4().hex[:8]}")
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {names} FROM {q(table.name)} WITH NO DATA"
        )
        _copy(conn, f"COPY {stage} ({names}) FROM STDIN", shape.tuples(rows))
        result = conn.exec_driver_sql(
            f"INSERT INTO {q(table.name)} ({names}) SELECT {names} FROM {stage}{conflict}{back}"
        )
        return [tuple(r) for r in result] if returning else []
    sql = (
        f"INSERT INTO {q(table.name)} ({names}) SELECT {names} "
        f"FROM json_to_recordset(CAST(:rows AS json)) AS r({shape.record}){conflict}{back}"
    )
    result = conn.execute(_statement(sql), {"rows": shape.document(rows)})
    return [tuple(r) for r in result] if returning else []


def _copy(conn: sa.Connection, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """PostgreSQL's ``COPY ... FROM STDIN``: the cheapest way in; a key conflict fails it like an ``INSERT``.

    It runs on the driver's connection, inside the caller's transaction; a driver error
    is raised as SQLAlchemy raises it (``IntegrityError`` and so on).
    """
    dbapi = conn.dialect.loaded_dbapi
    if not conn.in_transaction():
        conn.begin()  # as Core's autobegin would: the caller's commit then covers the copy
    try:
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, None, exc, dbapi.Error, dialect=conn.dialect) from exc


def update(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    match: Mapping[str, str],
) -> int:
    """Update one row per entry of ``rows``; returns how many rows matched.

    ``match`` maps the keys of the rows that select the row to the column each must
    equal (``{"customer_id": "customer_id", "old_version": "version"}``); the other keys
    are the new column values.
    """
    if not match:
        raise ValueError("an update needs the keys that select its rows")
    if not rows:
        return 0
    columns = tuple(c for c in _columns(table, rows) if c not in match)
    shape = _shape(table, (*columns, *match), tuple(match.items()), conn.dialect)
    q = conn.dialect.identifier_preparer.quote
    if conn.dialect.name != "postgresql":
        sets = ", ".join(f"{q(c)} = ?" for c in columns)
        where = " AND ".join(f"{q(col)} = ?" for col in match.values())
        sql = f"UPDATE {q(table.name)} SET {sets} WHERE {where}"
        return int(conn.exec_driver_sql(sql, shape.tuples(rows)).rowcount)
    sets = ", ".join(f"{q(c)} = r.{q(c)}" for c in columns)
    where = " AND ".join(f"t.{q(col)} = r.{q(key)}" for key, col in match.items())
    sql = (
        f"UPDATE {q(table.name)} AS t SET {sets} "
        f"FROM json_to_recordset(CAST(:rows AS json)) AS r({shape.record}) WHERE {where}"
    )
    return int(conn.execute(_statement(sql), {"rows": shape.document(rows)}).rowcount)


@lru_cache(maxsize=256)
def _statement(sql: str) -> sa.TextClause:
    """One statement object per SQL text (they name only our tables and columns), so its cache key is kept."""
    return sa.text(sql)
