"""Typed coercion of raw columns with a per-cell error mask.

Every function here is vectorised with polars expressions. A cell is *invalid* when the source
held a non-empty value that could not be converted; the value is then null. Empty strings
(after stripping) are plain nulls, never invalid.

Choices made where the contract is silent:

* int accepts anything that parses as a number with a zero fractional part ("12", "12.0",
  "1e3", "1.234" with decimal ","); "12.5" is invalid rather than truncated.
* Numbers may carry a trailing minus ("12,50-", as SAP exports write), group separators
  (the non-decimal mark, space, no-break space, apostrophe) in groups of three, and
  scientific notation. "inf"/"nan", currency signs and percentages are invalid.
* Booleans are never numbers: a bool in an int/float column is invalid.
* Date detection accepts four-digit years only; two-digit years need a forced pattern.
* A date column keeps the calendar date as written; a tz-aware datetime is first converted
  to ``tz``. Naive timestamps falling in a daylight-saving gap of ``tz`` are invalid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from cvm.contracts.tables import DType

_V = "v"
_UTC = pl.Datetime("us", "UTC")
_SAMPLE = 20_000
_TRUE = ("true", "yes", "y", "1", "t", "ja", "j", "oui", "wahr", "vrai", "waar")
_FALSE = ("false", "no", "n", "0", "f", "nee", "nein", "non", "falsch", "faux", "onwaar")
_GROUP_EXTRA = r" '\x{00A0}\x{202F}"
_AMBIGUOUS = r"^[+-]?[1-9]\d{0,2}[.,]\d{3}$"
_COMMA_EVIDENCE = (r"^[+-]?\d+,\d+$", r"^[+-]?\d{1,3}(\.\d{3})+,\d*$", r"^[+-]?\d{1,3}(\.\d{3}){2,}$")
_DOT_EVIDENCE = (r"^[+-]?\d+\.\d+$", r"^[+-]?\d{1,3}(,\d{3})+\.\d*$", r"^[+-]?\d{1,3}(,\d{3}){2,}$")
_ISO = (
    r"^(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<z>[Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)
_FAST_ISO = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})?)?$"
# Candidate non-ISO date patterns in order of preference (day-first is the European default).
_PATTERNS: dict[str, str] = {
    "%d/%m/%Y": r"^\d{1,2}/\d{1,2}/\d{4}",
    "%m/%d/%Y": r"^\d{1,2}/\d{1,2}/\d{4}",
    "%d-%m-%Y": r"^\d{1,2}-\d{1,2}-\d{4}",
    "%d.%m.%Y": r"^\d{1,2}\.\d{1,2}\.\d{4}",
    "%Y/%m/%d": r"^\d{4}/\d{1,2}/\d{1,2}",
}
_GUARDS = {**_PATTERNS, "%Y-%m-%d": r"^\d{4}-\d{1,2}-\d{1,2}"}


@dataclass(frozen=True)
class Coerced:
    """Typed values, the mask of unparseable cells, and what was detected."""

    values: pl.Series
    invalid: pl.Series
    detail: str | None


def _eval(series: pl.Series, expr: pl.Expr) -> pl.Series:
    """Evaluate ``expr`` (written on column ``v``) against ``series``."""
    return pl.DataFrame({_V: series}).select(expr.alias(series.name)).to_series()


def _clean(series: pl.Series) -> pl.Series:
    """Strip strings and turn empty strings into nulls."""
    s = pl.col(_V).str.strip_chars()
    return _eval(series, pl.when(s.str.len_bytes() > 0).then(s))


def _sample(values: pl.Series) -> pl.Series:
    """Distinct non-null stripped strings, at most ``_SAMPLE`` of them."""
    u = _clean(values.cast(pl.String)).drop_nulls().unique(maintain_order=True)
    return u.head(_SAMPLE)


def _count(values: pl.Series, patterns: tuple[str, ...]) -> int:
    """Number of values matching any of ``patterns`` but not the ambiguous 1.234 shape."""
    hit = pl.any_horizontal([pl.col(_V).str.contains(p) for p in patterns])
    return int(_eval(values, hit & ~pl.col(_V).str.contains(_AMBIGUOUS)).sum())


def decimal_evidence(values: pl.Series) -> tuple[int, int]:
    """Distinct values that can only be read with a decimal comma, and with a decimal point.

    Values such as ``1.234`` or ``1,234`` are ambiguous and count for neither side.
    """
    sample = _sample(values)
    return _count(sample, _COMMA_EVIDENCE), _count(sample, _DOT_EVIDENCE)


def detect_decimal(values: pl.Series) -> str:
    """Return ``","`` when the numbers look like ``1.234,56`` or ``12,5``, else ``"."``."""
    comma, dot = decimal_evidence(values)
    return "," if comma > dot else "."


def _number_text(decimal: str) -> pl.Expr:
    """Expression turning column ``v`` into a plain ``-1234.5e3`` text, or null if malformed."""
    dec = "," if decimal == "," else r"\."
    group = "[" + ("." if decimal == "," else ",") + _GROUP_EXTRA + "]"
    integer = rf"(?:\d{{1,3}}(?:{group}\d{{3}})+|\d+)"
    number = rf"^[+-]?(?:{integer}(?:{dec}\d*)?|{dec}\d+)(?:[eE][+-]?\d+)?$"
    v = pl.col(_V)
    trailing = v.str.ends_with("-") & ~v.str.contains(r"^[+-]")
    core = pl.when(trailing).then(pl.lit("-") + v.str.strip_suffix("-")).otherwise(v)
    plain = core.str.replace_all(group, "").str.replace(decimal, ".", literal=True)
    return pl.when(core.str.contains(number)).then(plain.str.strip_prefix("+"))


def _float_from_text(series: pl.Series, decimal: str) -> pl.Series:
    f = _number_text(decimal).cast(pl.Float64, strict=False)
    return _eval(series, pl.when(f.is_finite()).then(f))  # "1e400" overflows: invalid


def _int_from_text(series: pl.Series, decimal: str) -> pl.Series:
    text = _number_text(decimal)
    f = text.cast(pl.Float64, strict=False)
    whole = f.is_finite() & (f == f.floor()) & (f.abs() < 2.0**63)
    expr = (
        pl.when(text.str.contains(r"^-?\d+$"))
        .then(text.cast(pl.Int64, strict=False))
        .when(whole)
        .then(f.cast(pl.Int64, strict=False))
    )
    return _eval(series, expr)


def _numeric(series: pl.Series, dtype: DType, decimal: str | None) -> tuple[pl.Series, str | None]:
    """Int64 or Float64 values from text or typed numbers."""
    target = pl.Int64 if dtype == "int" else pl.Float64
    if series.dtype == pl.String:
        direct = series.cast(target, strict=False)  # fast path: plain "123" / "-1.5e3" everywhere
        plain = direct.null_count() == series.null_count()
        if plain and (dtype == "int" or (decimal != "," and bool(direct.is_finite().all()))):
            return direct, None
        dec = decimal or detect_decimal(series)
        conv = _int_from_text if dtype == "int" else _float_from_text
        return conv(series, dec), f"decimal {dec!r}"
    if series.dtype.is_integer() or (dtype == "float" and series.dtype.is_numeric()):
        return series.cast(target, strict=False), None
    if series.dtype.is_float() or series.dtype.is_decimal():  # into int: whole numbers only
        v, f = pl.col(_V), pl.col(_V).cast(pl.Float64)
        ok = f.is_finite() & (f == f.floor()) & (f.abs() < 2.0**63)
        return _eval(series, pl.when(ok).then(v).cast(pl.Int64, strict=False)), None
    return pl.Series(series.name, [None] * len(series), dtype=target), None


def _bool(series: pl.Series) -> pl.Series:
    v = pl.col(_V)
    if series.dtype == pl.Boolean:
        return series
    if series.dtype == pl.String:
        words = {**{t: True for t in _TRUE}, **{f: False for f in _FALSE}}
        lower = v.str.to_lowercase()
        return _eval(series, lower.replace_strict(words, default=None, return_dtype=pl.Boolean))
    if series.dtype.is_numeric():
        return _eval(series, pl.when(v == 1).then(True).when(v == 0).then(False))
    return pl.Series(series.name, [None] * len(series), dtype=pl.Boolean)


def _pattern_rx(fmt: str) -> str | None:
    """Guard regex (four-digit years) for a known date part, ended by the string end, space or T."""
    base = fmt.split(" ")[0].split("T")[0]
    return _GUARDS[base] + r"(?:$|[ T])" if base in _GUARDS else None


def _variants(fmt: str) -> list[str]:
    """The pattern itself plus optional time parts when it has none."""
    if any(d in fmt for d in ("%H", "%I", "%M", "%S", "%T", "%R")):
        return [fmt]
    return [fmt, f"{fmt} %H:%M", f"{fmt} %H:%M:%S", f"{fmt}T%H:%M", f"{fmt}T%H:%M:%S"]


def _parse_pattern(fmt: str) -> pl.Expr:
    """Naive (or UTC when the pattern has ``%z``) datetime parsed from column ``v``."""
    v = pl.col(_V)
    dtype = pl.Datetime("us", "UTC") if "%z" in fmt or "%:z" in fmt else pl.Datetime("us")
    parsed = pl.coalesce([v.str.strptime(dtype, f, strict=False, exact=True) for f in _variants(fmt)])
    guard = _pattern_rx(fmt)
    return parsed if guard is None else pl.when(v.str.contains(guard)).then(parsed)


def _iso_frame(series: pl.Series) -> pl.DataFrame:
    """Column ``v`` plus ``_naive`` (ISO 8601 datetime as written) and ``_offset`` (UTC minutes).

    Built in stages so that the regex runs once per value.
    """
    parts = pl.DataFrame({_V: series}).select(pl.col(_V), pl.col(_V).str.extract_groups(_ISO).alias("_g"))
    parts = parts.unnest("_g")
    c = pl.col
    frac = c("f").fill_null("0").str.pad_end(6, "0").str.slice(0, 6)
    date = pl.concat_str([c("y"), c("mo"), c("d")], separator="-")
    clock = pl.concat_str([c(k).fill_null("00") for k in ("h", "mi", "s")], separator=":")
    text = pl.concat_str([date, clock], separator=" ") + "." + frac
    z = c("z").str.replace(":", "", literal=True)
    sign = pl.when(z.str.starts_with("-")).then(-1).otherwise(1)
    hours = z.str.slice(1, 2).cast(pl.Int64, strict=False)
    minutes = z.str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0)
    naive = text.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S%.f", strict=False, exact=True)
    offset = pl.when(z.str.to_lowercase() == "z").then(0).otherwise(sign * (hours * 60 + minutes))
    return parts.select(c(_V), naive.alias("_naive"), offset.alias("_offset"))


def _localise(naive: pl.Expr, tz: str) -> pl.Expr:
    """Interpret naive datetimes in ``tz`` (earliest when ambiguous, null in DST gaps), then UTC."""
    local = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC")


def _fast_iso(series: pl.Series, dtype: DType, tz: str) -> pl.Series:
    """The common ISO 8601 shapes parsed with native formats; null for anything else."""
    v = pl.col(_V)
    guard = v.str.contains(_FAST_ISO)
    if dtype == "date":
        day = v.str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d", strict=False, exact=True)
        clock = v.str.slice(11, 8).str.strptime(pl.Time, "%H:%M:%S", strict=False, exact=True)
        return _eval(series, pl.when(guard & ((v.str.len_bytes() == 10) | clock.is_not_null())).then(day))

    def parse(dtype: pl.Datetime, *formats: str) -> pl.Expr:
        return pl.coalesce([v.str.strptime(dtype, f, strict=False, exact=True) for f in formats])

    naive = parse(pl.Datetime("us"), "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
    zulu = parse(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%SZ").dt.replace_time_zone("UTC")
    offset = parse(_UTC, "%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%d %H:%M:%S%:z")
    return _eval(series, pl.when(guard).then(pl.coalesce([_localise(naive, tz), zulu, offset])))


def _iso_general(series: pl.Series, dtype: DType, tz: str) -> pl.Series:
    """Any ISO 8601 shape (regex based): offsets applied, naive values localised in ``tz``."""
    naive, offset = pl.col("_naive"), pl.col("_offset")
    if dtype == "date":
        expr = naive.dt.date()
    else:
        shifted = (naive - pl.duration(minutes=offset)).dt.replace_time_zone("UTC")
        expr = pl.when(offset.is_not_null()).then(shifted).otherwise(_localise(naive, tz))
    return _iso_frame(series).select(expr.alias(series.name)).to_series()


def _with_pattern(series: pl.Series, dtype: DType, fmt: str, tz: str) -> pl.Series:
    """Values parsed with the strftime pattern ``fmt`` (and its time variants)."""
    pattern = _parse_pattern(fmt)
    aware = "%z" in fmt or "%:z" in fmt
    if dtype == "date":
        return _eval(series, (pattern.dt.convert_time_zone(tz) if aware else pattern).dt.date())
    return _eval(series, pattern if aware else _localise(pattern, tz))


def _temporal_text(series: pl.Series, dtype: DType, fmt: str | None, tz: str) -> pl.Series:
    """Parse text with ``fmt`` (when given), then common ISO shapes, then any ISO 8601 shape.

    Each stage only sees the values the earlier ones left unparsed.
    """
    stages: list[Callable[[pl.Series], pl.Series]] = [
        lambda s: _fast_iso(s, dtype, tz),
        lambda s: _iso_general(s, dtype, tz),
    ]
    if fmt is not None:
        stages.insert(0, lambda s: _with_pattern(s, dtype, fmt, tz))
    result = stages[0](series)
    for stage in stages[1:]:
        rest = series.is_not_null() & result.is_null()
        if not bool(rest.any()):
            break
        result = result.scatter(rest.arg_true(), stage(series.filter(rest)))
    return result


def _count_parsed(sample: pl.Series, fmt: str | None) -> int:
    if fmt is None:
        return int(_iso_frame(sample)["_naive"].is_not_null().sum())
    return int(_eval(sample, _parse_pattern(fmt)).is_not_null().sum())


def _counts(sample: pl.Series) -> tuple[int, str | None, int]:
    """Sample values parsed as ISO 8601, and the best non-ISO pattern with its count."""
    best: tuple[str | None, int] = (None, 0)
    for fmt in _PATTERNS:
        n = _count_parsed(sample, fmt)
        if n > best[1]:
            best = (fmt, n)
    return _count_parsed(sample, None), *best


def _detect(sample: pl.Series) -> str | None:
    """Best date-only base pattern for a sample (``%Y-%m-%d`` standing for ISO 8601)."""
    iso, fmt, n = _counts(sample)
    if fmt is not None and n > iso:
        return fmt
    return "%Y-%m-%d" if iso else None


def detect_date_format(values: pl.Series) -> str | None:
    """Detect the date pattern of a column from a sample of its non-null strings.

    Candidates are ISO 8601, ``%d/%m/%Y``, ``%m/%d/%Y``, ``%d-%m-%Y``, ``%d.%m.%Y`` and ``%Y/%m/%d``;
    the one parsing the most sample values wins and ties go to ISO, then day-first, so
    ``%m/%d/%Y`` is chosen only when some value has a day above 12 in the second field.
    A time suffix (`` %H:%M`` or `` %H:%M:%S``) is appended when the values carry one.
    Returns None when no candidate parses any value.
    """
    sample = _sample(values)
    base = _detect(sample) if not sample.is_empty() else None
    if base is None:
        return None
    sep = "T" if base == "%Y-%m-%d" and bool(sample.str.contains(r"^\S+T\d").any()) else " "
    if bool(sample.str.contains(r"\d:\d{2}:\d{2}").any()):
        return f"{base}{sep}%H:%M:%S"
    if bool(sample.str.contains(r"\d:\d{2}").any()):
        return f"{base}{sep}%H:%M"
    return base


def _temporal_typed(series: pl.Series, dtype: DType, tz: str) -> pl.Series:
    """Dates and datetimes already typed: localise naive values, convert aware ones."""
    v = pl.col(_V)
    kind = series.dtype
    if kind == pl.Date:
        expr = v if dtype == "date" else v.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif isinstance(kind, pl.Datetime):
        ts = v.dt.cast_time_unit("us")
        if dtype == "date":
            expr = (ts if kind.time_zone is None else ts.dt.convert_time_zone(tz)).dt.date()
        else:
            expr = _localise(ts, tz) if kind.time_zone is None else ts.dt.convert_time_zone("UTC")
    else:
        target = pl.Date if dtype == "date" else _UTC
        return pl.Series(series.name, [None] * len(series), dtype=target)
    return _eval(series, expr)


def _temporal(series: pl.Series, dtype: DType, forced: str | None, tz: str) -> tuple[pl.Series, str | None]:
    """Dates or UTC timestamps, with the date format used."""
    if series.dtype != pl.String:
        return _temporal_typed(series, dtype, tz), None
    if forced is not None:
        return _temporal_text(series, dtype, forced, tz), f"date format {forced}"
    iso, fmt, n = _counts(_sample(series))  # ISO 8601 is always accepted; add the best other pattern
    if fmt is None:
        return _temporal_text(series, dtype, None, tz), "date format ISO 8601"
    detail = f"date format {fmt}" if n >= iso else f"date formats ISO 8601 and {fmt}"
    return _temporal_text(series, dtype, fmt, tz), detail


def _string(series: pl.Series) -> pl.Series:
    if series.dtype == pl.String:
        return series
    if series.dtype == pl.Boolean:
        return _eval(series, pl.when(pl.col(_V)).then(pl.lit("true")).otherwise(pl.lit("false")))
    if isinstance(series.dtype, pl.Datetime) and series.dtype.time_zone is not None:
        return _eval(series, pl.col(_V).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ"))
    return series.cast(pl.String, strict=False)


def _prepare(series: pl.Series) -> pl.Series:
    """Normalise input: categoricals and objects to text, text stripped, NaN to null."""
    if isinstance(series.dtype, (pl.Categorical, pl.Enum)):
        series = series.cast(pl.String)
    elif series.dtype == pl.Object:
        series = series.map_elements(lambda x: None if x is None else str(x), return_dtype=pl.String)
    elif series.dtype == pl.Null:
        series = series.cast(pl.String)
    if series.dtype == pl.String:
        return _clean(series)
    if series.dtype.is_float():
        return series.fill_nan(None)
    return series


def coerce(
    series: pl.Series,
    dtype: DType,
    *,
    decimal: str | None = None,
    date_format: str | None = None,
    tz: str = "UTC",
) -> Coerced:
    """Convert a raw column to a hub type, flagging cells that cannot be parsed.

    Parameters
    ----------
    series : raw column, text (from CSV/JSONL) or already typed (Parquet, frames, SQL).
    dtype : target hub type.
    decimal : ``"."`` or ``","``; None detects it per column.
    date_format : strftime pattern tried besides ISO 8601; None detects it per column.
    tz : time zone of naive timestamps.
    """
    if decimal not in (None, ".", ","):
        raise ValueError(f"decimal must be '.' or ',', not {decimal!r}")
    src = _prepare(series)
    detail: str | None = None
    if dtype == "string":
        values = _string(src)
    elif dtype in ("int", "float"):
        values, detail = _numeric(src, dtype, decimal)
    elif dtype == "bool":
        values = _bool(src)
    elif dtype in ("date", "timestamp"):
        values, detail = _temporal(src, dtype, date_format, tz)
    else:
        raise ValueError(f"unknown dtype {dtype!r}")
    values = values.alias(series.name)
    invalid = (src.is_not_null() & values.is_null()).alias(series.name)
    return Coerced(values=values, invalid=invalid, detail=detail)
