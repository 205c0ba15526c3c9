"""Readers for CRM exports: CSV (any delimiter and encoding), JSON lines, Parquet, frames and SQL.

Each returns a :class:`RawTable`: the data with normalised column names plus ``__line__`` (the
physical line for CSV and JSON lines, the row number otherwise). Choices where the contract is silent:

* Records whose fields are all empty (blank lines, ``;;;``) are dropped after numbering.
* An empty header cell becomes ``column_<n>`` (1-based position).
* ``rename`` keys are normalised like headers; keys absent from the source are ignored.
* A ``.json`` file holding one JSON array of objects is read too; ``__line__`` is the record number.
* CSV and JSON lines: unless forced, ``info.decimal`` is the file-wide decimal mark when the
  numeric-looking columns agree on one, else None (left to each column).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import polars as pl
import pyarrow as pa
import sqlalchemy as sa

from cvm.contracts.csvsafe import restore_polars
from cvm.ingest.coerce import decimal_evidence
from cvm.ingest.sniff import (
    SourceError,
    detect_delimiter,
    preamble,
    read_bytes,
    sample_text,
    to_utf8,
)

__all__ = [
    "LINE",
    "RawTable",
    "ReadOptions",
    "SourceError",
    "SourceInfo",
    "normalise_header",
    "read_frame",
    "read_source",
    "read_sql",
]

LINE = "__line__"
_FORMATS = {"csv": ".csv .txt .tsv", "parquet": ".parquet .pq", "jsonl": ".jsonl .ndjson .json"}
_EXTENSIONS = {ext: fmt for fmt, exts in _FORMATS.items() for ext in exts.split()}


@dataclass(frozen=True)
class ReadOptions:
    """How to read a source; every None is detected."""

    format: Literal["auto", "csv", "parquet", "jsonl"] = "auto"
    delimiter: str | None = None
    encoding: str | None = None
    decimal: str | None = None
    date_format: str | None = None
    rename: Mapping[str, str] | None = None
    values: Mapping[str, Mapping[str, str]] | None = None  # hub column -> {source value: hub value}


@dataclass(frozen=True)
class SourceInfo:
    """What was detected or forced while reading a source."""

    format: str
    encoding: str | None
    delimiter: str | None
    decimal: str | None
    date_format: str | None


@dataclass(frozen=True)
class RawTable:
    """Source data with normalised column names and a ``__line__`` column."""

    source: str
    frame: pl.DataFrame
    info: SourceInfo
    headers: tuple[str, ...] = ()  # the column names as the source wrote them


def normalise_header(name: str) -> str:
    """Strip whitespace and BOM, lower-case, and turn spaces and ``-`` into ``_``."""
    return name.strip().lstrip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")


def _finish(
    frame: pl.DataFrame,
    lines: pl.Series,
    source: str,
    info: SourceInfo,
    rename: Mapping[str, str] | None,
    header: list[str] | None = None,
) -> RawTable:
    """Normalise and rename columns, check they are unique, and append ``__line__``.

    ``header`` gives the source names when the frame's own are placeholders.
    """
    raw = header if header is not None and len(header) == frame.width else [str(c) for c in frame.columns]
    names = [normalise_header(c) or f"column_{i + 1}" for i, c in enumerate(raw)]
    mapping = {normalise_header(k): v for k, v in (rename or {}).items()}
    for stage, cols in (("normalisation", names), ("rename", [mapping.get(n, n) for n in names])):
        dups = sorted(n for n, k in Counter(cols).items() if k > 1)
        if dups:
            raise SourceError(f"{source}: duplicate column names after {stage}: {', '.join(dups)}")
        if LINE in cols:
            raise SourceError(f"{source}: column name {LINE!r} is reserved")
        names = cols
    frame = frame.select([pl.col(c).alias(n) for c, n in zip(frame.columns, names, strict=True)])
    frame = frame.with_columns(lines.cast(pl.Int64).alias(LINE))
    return RawTable(source=source, frame=frame, info=info, headers=tuple(c.strip().lstrip("\ufeff") for c in raw))


def _detect_format(path: Path, forced: str) -> str:
    if forced != "auto":
        if forced not in ("csv", "parquet", "jsonl"):
            raise SourceError(f"{path}: unknown format {forced!r}; use csv, parquet or jsonl")
        return forced
    name = path.name.lower().removesuffix(".gz")
    fmt = _EXTENSIONS.get(Path(name).suffix)
    if fmt is None:
        known = ", ".join(sorted(_EXTENSIONS))
        raise SourceError(f"{path}: unknown format (extension not one of {known}, optionally .gz)")
    return fmt


def _csv_lines(frame: pl.DataFrame, first: int, quoted: bool) -> pl.Series:
    """Physical line of each record: ``first`` plus the lines taken by earlier records.

    Only quoted fields can hold line breaks, so files without quotes need no counting.
    """
    if not (quoted and frame.width):
        return pl.int_range(first, first + frame.height, eager=True, dtype=pl.Int64).alias(LINE)
    counts = [pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in frame.columns]
    span = (pl.sum_horizontal(counts).cast(pl.Int64) + 1).alias(LINE)
    return frame.select(span.cum_sum() - span + first).to_series()


def _read_csv(path: Path, options: ReadOptions) -> RawTable:
    source = str(path)
    data, encoding = to_utf8(read_bytes(path), options.encoding, source)
    body, leading, hint = preamble(data)
    if not body.strip():
        raise SourceError(f"{source}: empty file")
    sample, truncated = sample_text(body)
    delimiter = options.delimiter or hint or detect_delimiter(sample, truncated)
    try:
        frame = pl.read_csv(body, separator=delimiter, infer_schema=False, raise_if_empty=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"{source}: malformed CSV (delimiter {delimiter!r}): {first}") from exc
    try:
        header = next(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), [])
    except csv.Error:
        header = []
    header_lines = 1 + sum(h.count("\n") for h in header)
    quoted = b'"' in body
    lines = _csv_lines(frame, leading + header_lines + 1, quoted)
    if quoted:  # a quoted "" is an empty string: make it null like an unquoted empty field
        frame = _empty_to_null(frame)
    frame = restore_polars(frame)  # undo the formula guard CVM's own CSV files carry (cvm.contracts.csvsafe)
    frame, lines = _drop_blank(frame, lines)
    decimal = options.decimal or _file_decimal(frame)
    info = SourceInfo("csv", encoding, delimiter, decimal, options.date_format)
    return _finish(frame, lines, source, info, options.rename, header)


def _empty_to_null(frame: pl.DataFrame) -> pl.DataFrame:
    """Turn empty strings into nulls."""
    kept = [pl.when(pl.col(c).str.len_bytes() > 0).then(pl.col(c)).alias(c) for c in frame.columns]
    return frame.with_columns(kept)


def _drop_blank(frame: pl.DataFrame, lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """Drop records whose every field is null (blank lines) together with their line numbers."""
    if not frame.width:
        return frame, lines
    keep = frame.select(~pl.all_horizontal(pl.all().is_null())).to_series()
    if bool(keep.all()):
        return frame, lines
    return frame.filter(keep), lines.filter(keep)


def _file_decimal(frame: pl.DataFrame, rows: int = 20_000) -> str | None:
    """The decimal mark when the text columns give evidence for one mark only."""
    comma = dot = 0
    head = frame.head(rows)
    for name, dtype in head.schema.items():
        if dtype == pl.String:
            c, d = decimal_evidence(head[name])
            comma, dot = comma + c, dot + d
    if comma and not dot:
        return ","
    if dot and not comma:
        return "."
    return None


def _json_objects(records: pl.Series, numbers: pl.Series, source: str) -> list[dict[str, object]]:
    """Parse every record in Python, naming the first line that is not a JSON object."""
    out: list[dict[str, object]] = []
    for text, number in zip(records, numbers, strict=True):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{source}: line {number}: invalid JSON: {exc.msg}") from exc
        if not isinstance(value, dict):
            raise SourceError(f"{source}: line {number}: expected a JSON object, got {type(value).__name__}")
        out.append(value)
    return out


def _json_text(value: object) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value)


def _json_fallback(records: pl.Series, numbers: pl.Series, source: str) -> pl.DataFrame:
    """Slow path for records polars cannot read together (e.g. a key holding a number, then an object)."""
    rows = _json_objects(records, numbers, source)
    names = dict.fromkeys(k for row in rows for k in row)
    return pl.DataFrame([pl.Series(k, [_json_text(r.get(k)) for r in rows], dtype=pl.String) for k in names])


def _json_records(text: str, source: str) -> tuple[pl.Series, pl.Series]:
    """Non-blank record texts and their line numbers (record numbers for a JSON array)."""
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{source}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        if not all(isinstance(r, dict) for r in records):
            raise SourceError(f"{source}: a JSON array must hold objects only")
        texts = pl.Series([json.dumps(r) for r in records], dtype=pl.String)
        return texts, pl.int_range(1, len(records) + 1, eager=True, dtype=pl.Int64)
    raw = pl.Series(text.split("\n"), dtype=pl.String)
    keep = raw.str.strip_chars().str.len_bytes() > 0
    return raw.filter(keep), keep.arg_true().cast(pl.Int64) + 1


def _read_jsonl(path: Path, options: ReadOptions) -> RawTable:
    source = str(path)
    data, encoding = to_utf8(read_bytes(path), options.encoding, source)
    records, lines = _json_records(data.decode("utf-8").lstrip("\ufeff"), source)
    payload = records.str.join("\n").item().encode("utf-8")
    try:
        columns = pl.read_ndjson(payload, infer_schema_length=None).columns
        frame = pl.read_ndjson(payload, schema={c: pl.String for c in columns})
    except pl.exceptions.PolarsError:
        frame = _json_fallback(records, lines, source)
    if frame.height != len(records):
        frame = _json_fallback(records, lines, source)
    frame = _empty_to_null(frame)
    info = SourceInfo("jsonl", encoding, None, options.decimal or _file_decimal(frame), options.date_format)
    return _finish(frame, lines, source, info, options.rename)


def _read_parquet(path: Path, options: ReadOptions) -> RawTable:
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"{path}: cannot read parquet: {exc}") from exc
    info = SourceInfo("parquet", None, None, options.decimal, options.date_format)
    return _finish(frame, _row_numbers(frame), str(path), info, options.rename)


def _row_numbers(frame: pl.DataFrame) -> pl.Series:
    return pl.int_range(1, frame.height + 1, eager=True, dtype=pl.Int64)


def read_source(path: str | Path, options: ReadOptions = ReadOptions()) -> RawTable:
    """Read a CSV, JSON lines or Parquet file (``.gz`` allowed for text formats).

    Raises
    ------
    SourceError
        When the file is missing, empty, undecodable, malformed or of unknown format,
        or its column names collide after normalisation.
    """
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{path}: file not found")
    if not p.is_file():
        raise SourceError(f"{path}: not a regular file")
    if options.decimal not in (None, ".", ","):
        raise SourceError(f"{path}: decimal must be '.' or ',', not {options.decimal!r}")
    if options.delimiter is not None and len(options.delimiter) != 1:
        raise SourceError(f"{path}: delimiter must be one character, not {options.delimiter!r}")
    readers = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}
    return readers[_detect_format(p, options.format)](p, options)


def _from_pandas(data: pd.DataFrame) -> pl.DataFrame:
    """Convert a pandas frame; object columns mixing types become text."""
    data = data.rename(columns=str)
    try:
        return pl.from_pandas(data)
    except (pl.exceptions.PolarsError, ValueError, TypeError, pa.ArrowException):
        mixed = {c: "string" for c in data.select_dtypes(include="object").columns}
        return pl.from_pandas(data.astype(mixed))


def read_frame(
    data: pd.DataFrame | pl.DataFrame | pa.Table,
    name: str = "<dataframe>",
    options: ReadOptions = ReadOptions(),
) -> RawTable:
    """Wrap an in-memory frame (pandas, polars or Arrow); types are kept, ``__line__`` is the row number."""
    try:
        if isinstance(data, pl.DataFrame):
            frame = data
        elif isinstance(data, pd.DataFrame):
            frame = _from_pandas(data)
        elif isinstance(data, pa.Table):
            frame = pl.DataFrame(pl.from_arrow(data))
        else:
            raise SourceError(f"{name}: expected a pandas, polars or Arrow table, got {type(data).__name__}")
    except (pl.exceptions.PolarsError, ValueError, TypeError, pa.ArrowException) as exc:
        raise SourceError(f"{name}: cannot convert frame: {exc}") from exc
    info = SourceInfo("dataframe", None, None, options.decimal, options.date_format)
    return _finish(frame, _row_numbers(frame), name, info, options.rename)


def _sql_column(name: str, values: list[object]) -> pl.Series:
    """A typed column, or text when the values mix types (as SQLite allows)."""
    try:
        return pl.Series(name, values)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def _error_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_sql(url: str, query: str, options: ReadOptions = ReadOptions()) -> RawTable:
    """Run ``query`` (plain SQL text, no parameters) on the database at ``url`` and return its rows.

    The source is ``sql:<url>`` with the password masked; ``__line__`` is the row number.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise SourceError("sql: invalid database URL") from exc
    source = "sql:" + parsed.render_as_string(hide_password=True)
    engine: sa.Engine | None = None
    stage = "cannot connect"
    try:
        engine = sa.create_engine(parsed)
        with engine.connect() as conn:
            stage = "query failed"
            result = conn.execute(sa.text(query))
            names = [str(k) for k in result.keys()]  # noqa: SIM118 (a Result is not a mapping)
            rows = result.fetchall()
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        raise SourceError(f"{source}: {stage}: {_error_line(exc)}") from exc
    finally:
        if engine is not None:
            engine.dispose()
    columns = [_sql_column(f"{i}", [row[i] for row in rows]) for i in range(len(names))]
    frame = pl.DataFrame(columns)
    info = SourceInfo("sql", None, None, options.decimal, options.date_format)
    return _finish(frame, _row_numbers(frame), source, info, options.rename, names)
