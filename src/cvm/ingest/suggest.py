"""Propose a ``sources:`` block for ``cvm.yaml`` from an export's headers and values.

Headers are matched to the table's columns by name and by French, Dutch and English synonyms
(:mod:`cvm.ingest.synonyms`), exactly or closely (difflib ratio of the folded names); each
column and header is used once, best match first. The read options are what the reader
detected; values of columns with allowed values are mapped when they resemble known ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

import polars as pl

from cvm.contracts import TableSchema
from cvm.ingest.coerce import detect_date_format
from cvm.ingest.readers import RawTable, normalise_header
from cvm.ingest.synonyms import COLUMN_SYNONYMS, VALUE_SYNONYMS, fold

MIN_SCORE = 0.8
MAX_DISTINCT = 50


@dataclass
class Suggestion:
    """A proposed mapping for one table."""

    table: str
    columns: dict[str, str] = field(default_factory=dict)  # header -> column
    scores: dict[str, float] = field(default_factory=dict)  # header -> match score
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    unmapped_values: dict[str, list[str]] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    missing_required: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "columns": self.columns,
            "values": self.values,
            "options": self.options,
            "unmatched_headers": self.unmatched,
            "unmapped_values": self.unmapped_values,
            "missing_required": self.missing_required,
            "yaml": self.yaml(),
        }

    def yaml(self) -> str:
        """The block to paste under ``sources:`` of cvm.yaml, with the open questions as comments."""
        q = _quote
        lines = ["sources:", f"  {self.table}:", "    columns:"]
        for header, column in self.columns.items():
            score = self.scores[header]
            note = "" if score >= 1.0 else f"  # close match ({score:.2f}): check it"
            lines.append(f"      {q(header)}: {column}{note}")
        if self.values:
            lines.append("    values:")
            for column, mapping in self.values.items():
                pairs = ", ".join(f"{q(k)}: {q(v)}" for k, v in mapping.items())
                lines.append(f"      {column}: {{{pairs}}}")
        if self.options:
            pairs = ", ".join(f"{k}: {q(v)}" for k, v in self.options.items())
            lines.append(f"    options: {{{pairs}}}")
        for header in self.unmatched:
            lines.append(f"    # not matched, ignored unless mapped: {q(header)}")
        for column, found in self.unmapped_values.items():
            lines.append(f"    # {column}: values not recognised: {', '.join(found)}")
        if self.missing_required:
            lines.append(f"    # required columns not found: {', '.join(self.missing_required)}")
        return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """A YAML scalar: JSON strings are valid double-quoted YAML."""
    return json.dumps(text, ensure_ascii=False)


def _similarity(a: str, b: str) -> float:
    if a == b or a.replace(" ", "") == b.replace(" ", ""):
        return 1.0
    return max(
        SequenceMatcher(None, a, b).ratio(), SequenceMatcher(None, a.replace(" ", ""), b.replace(" ", "")).ratio()
    )


def _names(column: str) -> list[str]:
    return [fold(column), *(fold(s) for s in COLUMN_SYNONYMS.get(column, ()))]


def match_headers(headers: list[str], schema: TableSchema) -> tuple[dict[str, str], dict[str, float]]:
    """Header -> column for the headers close enough to a column name or synonym, best first."""
    pairs = []
    for header in headers:
        folded = fold(header)
        for col in schema.column_names:
            score = max(_similarity(folded, name) for name in _names(col))
            if score >= MIN_SCORE:
                pairs.append((score, header, col))
    pairs.sort(key=lambda p: -p[0])  # stable: ties keep header order, then column order
    columns: dict[str, str] = {}
    scores: dict[str, float] = {}
    for score, header, col in pairs:
        if header not in columns and col not in columns.values():
            columns[header], scores[header] = col, round(score, 2)
    ordered = {h: columns[h] for h in headers if h in columns}
    return ordered, scores


def _value_match(value: str, column: str, choices: tuple[str, ...]) -> str | None:
    folded = fold(value)
    best: tuple[float, str | None] = (0.0, None)
    for choice in choices:
        for name in (fold(choice), *(fold(s) for s in VALUE_SYNONYMS.get(column, {}).get(choice, ()))):
            score = _similarity(folded, name)
            if score > best[0]:
                best = (score, choice)
    return best[1] if best[0] >= MIN_SCORE else None


def _values(raw: RawTable, schema: TableSchema, columns: dict[str, str], out: Suggestion) -> None:
    for header, column in columns.items():
        choices = schema.column(column).choices
        if not choices:
            continue
        series = raw.frame.get_column(normalise_header(header)).cast(pl.String).str.strip_chars().drop_nulls()
        distinct = [v for v in series.unique(maintain_order=True).head(MAX_DISTINCT).to_list() if v]
        seen = {c.lower() for c in choices}  # the mapping is applied case-insensitively
        mapping, unknown = {}, []
        for value in distinct:
            if value.lower() in seen:
                continue
            seen.add(value.lower())
            choice = _value_match(value, column, choices)
            if choice is None:
                unknown.append(value)
            else:
                mapping[value] = choice
        if mapping:
            out.values[column] = mapping
        if unknown:
            out.unmapped_values[column] = unknown


def _date_format(raw: RawTable, schema: TableSchema, columns: dict[str, str]) -> str | None:
    """The most common non-ISO date pattern of the date columns (without its time part)."""
    found: list[str] = []
    for header, column in columns.items():
        if schema.column(column).dtype not in ("date", "timestamp"):
            continue
        series = raw.frame.get_column(normalise_header(header))
        if series.dtype != pl.String:
            continue
        fmt = detect_date_format(series)
        if fmt is not None and not fmt.startswith("%Y-%m-%d"):
            found.append(fmt.split(" ")[0].split("T")[0])
    return max(found, key=found.count) if found else None


def suggest(raw: RawTable, schema: TableSchema) -> Suggestion:
    """A mapping proposal for ``raw`` (read without options) into ``schema``."""
    headers = list(raw.headers)
    columns, scores = match_headers(headers, schema)
    out = Suggestion(table=schema.name, columns=columns, scores=scores)
    out.unmatched = [h for h in headers if h not in columns]
    mapped = set(columns.values())
    out.missing_required = [c.name for c in schema.columns if c.required and c.name not in mapped]
    _values(raw, schema, columns, out)
    info = raw.info
    if info.format == "csv" and info.delimiter not in (None, ","):
        out.options["delimiter"] = info.delimiter or ","
    if info.decimal == ",":
        out.options["decimal"] = ","
    date_format = _date_format(raw, schema, columns)
    if date_format:
        out.options["date_format"] = date_format
    if info.encoding not in (None, "utf-8", "utf-8-sig"):
        out.options["encoding"] = info.encoding or "utf-8"
    return out
