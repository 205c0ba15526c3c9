"""Row-level validation of a source against a hub table schema.

Every problem becomes one rejection row ``(line, field, value, reason)``. A
source row is accepted only when it has none, so ``accepted + rejected = read``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from cvm.contracts import Column, TableSchema
from cvm.contracts.ids import DEFAULT_CUSTOMER_ID_PATTERN, check_customer_id, compile_id_pattern
from cvm.ingest.coerce import coerce
from cvm.ingest.readers import RawTable, SourceError
from cvm.store.schema import POLARS_TYPES

ROW = "__row__"
LINE = "__line__"
SOURCE = "__source__"
REJECT_SCHEMA = {ROW: pl.Int64, "field": pl.Utf8, "value": pl.Utf8, "reason": pl.Utf8}


@dataclass(frozen=True)
class Rules:
    """What the data must satisfy beyond its schema."""

    now: datetime
    future_tolerance_days: int = 1
    timezone: str = "UTC"
    decimal: str | None = None
    date_format: str | None = None
    customer_id_pattern: str = DEFAULT_CUSTOMER_ID_PATTERN  # see cvm.contracts.ids
    values: Mapping[str, Mapping[str, str]] | None = None  # column -> {source value: hub value}


@dataclass(frozen=True)
class Checked:
    """A validated source: typed accepted rows and one row per problem found."""

    frame: pl.DataFrame  # typed hub columns plus ROW, LINE and SOURCE
    rejects: pl.DataFrame  # ROW, field, value, reason
    ignored_columns: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def rejected_rows(self) -> pl.Series:
        return self.rejects.get_column(ROW).unique()


def _rejects(frame: pl.DataFrame, mask: pl.Expr, field: str, value: pl.Expr, reason: pl.Expr) -> pl.DataFrame:
    return frame.filter(mask).select(
        pl.col(ROW),
        pl.lit(field).alias("field"),
        value.cast(pl.Utf8).alias("value"),
        reason.alias("reason"),
    )


def _check_columns(raw: RawTable, schema: TableSchema) -> tuple[str, ...]:
    present = set(raw.frame.columns)
    missing = [c.name for c in schema.columns if c.required and c.name not in present]
    if missing:
        raise SourceError(
            f"{raw.source}: table {schema.name!r} needs column(s) {', '.join(missing)}; "
            f"the source has {', '.join(c for c in raw.frame.columns if c != LINE) or 'none'}; map its headers "
            f"under sources.{schema.name}.columns in cvm.yaml (`cvm sources suggest FILE --table {schema.name}` "
            "proposes them) or with --rename SOURCE=COLUMN"
        )
    return tuple(c for c in raw.frame.columns if c not in schema.column_names and c != LINE)


def _canonical_choices(col: Column, values: pl.Series) -> pl.Series:
    if not col.choices:
        return values
    mapping = {choice.lower(): choice for choice in col.choices}
    return values.str.strip_chars().str.to_lowercase().replace_strict(mapping, default=values)


def _mapped_values(source: pl.Series, mapping: Mapping[str, str]) -> pl.Series:
    """Source values replaced by their hub value (matched trimmed and case-insensitively); others kept."""
    text = source.cast(pl.String).str.strip_chars()
    lookup = {k.strip().lower(): v for k, v in mapping.items()}
    return text.str.to_lowercase().replace_strict(lookup, default=text, return_dtype=pl.String)


def _typed_column(raw: RawTable, col: Column, rules: Rules, notes: list[str]) -> tuple[pl.Series, pl.Series]:
    source = raw.frame.get_column(col.name)
    mapping = (rules.values or {}).get(col.name)
    if mapping:
        source = _mapped_values(source, mapping)
    decimal = rules.decimal or raw.info.decimal  # a file-wide mark beats per-column guessing
    result = coerce(source, col.dtype, decimal=decimal, date_format=rules.date_format, tz=rules.timezone)
    if result.detail:
        notes.append(f"{col.name}: {result.detail}")
    values = result.values.alias(col.name)
    if col.choices:
        values = _canonical_choices(col, values)
    return values, result.invalid


def _column_rejects(frame: pl.DataFrame, col: Column, rules: Rules) -> list[pl.DataFrame]:
    name, raw_name = col.name, f"__raw_{col.name}"
    value = pl.col(raw_name)
    out = [
        _rejects(frame, pl.col(f"__bad_{name}"), name, value, pl.lit(f"not a valid {col.dtype}")),
    ]
    if col.required:
        out.append(_rejects(frame, pl.col(raw_name).is_null(), name, value, pl.lit("required field is empty")))
    if col.min is not None or col.max is not None:
        lo = col.min if col.min is not None else float("-inf")
        hi = col.max if col.max is not None else float("inf")
        out_of_range = pl.col(name).is_not_null() & ~pl.col(name).is_between(lo, hi)
        out.append(_rejects(frame, out_of_range, name, value, pl.lit(f"outside the allowed range [{lo:g}, {hi:g}]")))
    if col.choices:
        bad = pl.col(name).is_not_null() & ~pl.col(name).is_in(list(col.choices))
        out.append(_rejects(frame, bad, name, value, pl.lit(f"not one of: {', '.join(col.choices)}")))
    if col.name == "customer_id":
        out += _customer_id_rejects(frame, rules)
    if col.dtype in ("date", "timestamp") and not col.future:
        limit = rules.now + timedelta(days=rules.future_tolerance_days)
        bound = limit.date() if col.dtype == "date" else limit
        future = pl.col(name).is_not_null() & (pl.col(name) > pl.lit(bound))
        reason = f"in the future (later than {limit:%Y-%m-%d %H:%M} UTC, {rules.future_tolerance_days} day tolerance)"
        out.append(_rejects(frame, future, name, value, pl.lit(reason)))
    return out


def _customer_id_rejects(frame: pl.DataFrame, rules: Rules) -> list[pl.DataFrame]:
    """Customer ids refused by :func:`cvm.contracts.ids.check_customer_id` (each distinct id checked once)."""
    regex = compile_id_pattern(rules.customer_id_pattern)
    ids = frame.get_column("customer_id").drop_nulls().unique().to_list()
    reasons = {v: why for v in ids if (why := check_customer_id(v, regex)) is not None}
    if not reasons:
        return []
    ids_col = pl.col("customer_id")
    reason = ids_col.replace_strict(reasons, default=None, return_dtype=pl.Utf8)
    return [_rejects(frame, ids_col.is_in(list(reasons)), "customer_id", pl.col("__raw_customer_id"), reason)]


def check(raw: RawTable, schema: TableSchema, rules: Rules) -> Checked:
    """Type and validate ``raw`` against ``schema`` (keys and customers are checked by the caller)."""
    ignored = _check_columns(raw, schema)
    notes: list[str] = []
    height = raw.frame.height
    cols: list[pl.Series] = [
        pl.Series(ROW, range(height), dtype=pl.Int64),
        raw.frame.get_column(LINE).cast(pl.Int64).alias(LINE),
    ]
    for col in schema.columns:
        if col.name not in raw.frame.columns:
            cols.append(pl.Series(col.name, [None] * height, dtype=POLARS_TYPES[col.dtype]))
            cols.append(pl.Series(f"__raw_{col.name}", [None] * height, dtype=pl.Utf8))
            cols.append(pl.Series(f"__bad_{col.name}", [False] * height, dtype=pl.Boolean))
            continue
        values, invalid = _typed_column(raw, col, rules, notes)
        cols.append(values)
        cols.append(raw.frame.get_column(col.name).cast(pl.Utf8).alias(f"__raw_{col.name}"))
        cols.append(invalid.alias(f"__bad_{col.name}"))
    wide = pl.DataFrame(cols)
    parts = [r for col in schema.columns for r in _column_rejects(wide, col, rules)]
    rejects = pl.concat([pl.DataFrame(schema=REJECT_SCHEMA), *parts], how="vertical_relaxed")
    typed = wide.select(ROW, LINE, *schema.column_names).with_columns(pl.lit(raw.source).alias(SOURCE))
    return Checked(typed, rejects, ignored, tuple(dict.fromkeys(notes)))


def key_label(schema: TableSchema) -> str:
    return "+".join(schema.key)


def key_value(schema: TableSchema) -> pl.Expr:
    """The natural key as one string, for messages."""
    if len(schema.key) == 1:
        return pl.col(schema.key[0]).cast(pl.Utf8)
    return pl.concat_str([pl.col(k).cast(pl.Utf8) for k in schema.key], separator="|")


def duplicate_rejects(frame: pl.DataFrame, schema: TableSchema) -> pl.DataFrame:
    """Rows whose natural key repeats an earlier row of the same batch."""
    keys = list(schema.key)
    ranked = frame.with_columns(
        pl.col(LINE).first().over(keys).alias("__first_line__"),
        pl.col(ROW).rank("ordinal").over(keys).alias("__n__"),
    )
    return _rejects(
        ranked,
        pl.col("__n__") > 1,
        key_label(schema),
        key_value(schema),
        pl.format("duplicate key in this batch (first at line {})", pl.col("__first_line__")),
    )


def stored_key_rejects(frame: pl.DataFrame, stored: pl.DataFrame, schema: TableSchema) -> pl.DataFrame:
    """Rows whose natural key is already stored (without ``upsert``)."""
    keys = list(schema.key)
    hit = frame.join(stored.select(keys).unique(), on=keys, how="semi")
    return _rejects(
        hit,
        pl.lit(True),
        key_label(schema),
        key_value(schema),
        pl.lit("key already stored; ingest with upsert to replace the stored row"),
    )


def unknown_customer_rejects(frame: pl.DataFrame, customers: pl.Series) -> pl.DataFrame:
    """Rows of a child table whose customer is not in the hub."""
    known = customers.to_frame("customer_id")
    missing = frame.filter(pl.col("customer_id").is_not_null()).join(known, on="customer_id", how="anti")
    return _rejects(
        missing, pl.lit(True), "customer_id", pl.col("customer_id"), pl.lit("unknown customer (load customers first)")
    )


def now_utc() -> datetime:
    return datetime.now(UTC)
