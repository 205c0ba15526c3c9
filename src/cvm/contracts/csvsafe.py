"""The one rule for CSV files CVM writes: no cell a spreadsheet would run as a formula.

Rule (after OWASP's "CSV injection" advice): a **text** cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return, possibly after leading
single quotes, gets one more single quote ``'`` in front. A spreadsheet shows
the quote-prefixed text as text and never evaluates it. Left alone:

- numbers (a numeric column's ``-20.5``: credit notes round-trip);
- text that is a plain decimal number, such as ``-20.5`` or ``+1e3`` in a text
  column: a spreadsheet reads it as that number, which runs nothing;
- every other text.

The rule is invertible: :func:`restore_text` drops exactly the quote it added,
and CVM's CSV reader applies it (see :mod:`cvm.ingest.readers`), so a file CVM
wrote (a demo source, a fixed rejects file) ingests back to the same values.
Every CSV writer in ``src/`` goes through this module (a test enforces it).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:  # pandas and pyarrow are loaded by the functions that take them
    import pandas as pd
    import pyarrow as pa

TRIGGERS = "=+-@\t\r"
_RISKY = r"^'*[=+\-@\t\r]"
_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_ESCAPED = r"^'('*[=+\-@\t\r])"
_RISKY_RE = re.compile(_RISKY)
_NUMBER_RE = re.compile(_NUMBER)


def safe_cell(value: Any) -> Any:
    """``value`` as it must go into a CSV cell (only text is ever changed)."""
    if isinstance(value, str) and _RISKY_RE.match(value) and not _NUMBER_RE.match(value):
        return "'" + value
    return value


def restore_text(value: str) -> str:
    """The inverse of :func:`safe_cell` on text: drop the quote it added."""
    if value.startswith("'") and _RISKY_RE.match(value[1:]):
        return value[1:]
    return value


def safe_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row for :class:`csv.DictWriter` with every cell made safe."""
    return {k: safe_cell(v) for k, v in row.items()}


if TYPE_CHECKING:
    _DictWriter = csv.DictWriter[str]
else:
    _DictWriter = csv.DictWriter


class SafeDictWriter(_DictWriter):
    """:class:`csv.DictWriter` that applies :func:`safe_cell` to every cell."""

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow(safe_row(rowdict))

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for row in rowdicts:
            self.writerow(row)


class SafeWriter:
    """:func:`csv.writer` for rows given as sequences, with :func:`safe_cell` applied to every cell."""

    def __init__(self, file: Any, **fmt: Any) -> None:
        self._writer = csv.writer(file, **fmt)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(v) for v in row])


def safe_polars(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its text columns made safe (vectorised; other columns untouched)."""
    fixes = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Utf8:
            col = pl.col(name)
            risky = col.str.contains(_RISKY) & ~col.str.contains(_NUMBER)
            fixes.append(pl.when(risky).then(pl.lit("'") + col).otherwise(col).alias(name))
    return frame.with_columns(fixes) if fixes else frame


def restore_polars(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with :func:`restore_text` applied to its text columns (what the CSV reader does)."""
    fixes = [pl.col(n).str.replace(_ESCAPED, "$1") for n, t in frame.schema.items() if t == pl.Utf8]
    return frame.with_columns(fixes) if fixes else frame


def safe_pandas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with text cells made safe (numbers in object columns stay numbers)."""
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == object or pd.api.types.is_string_dtype(out[name].dtype):
            out[name] = out[name].map(safe_cell)
    return out


def safe_arrow(table: pa.Table) -> pa.Table:
    """``table`` with its string columns made safe."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            col = table.column(i)
            risky = pc.and_(pc.match_substring_regex(col, _RISKY), pc.invert(pc.match_substring_regex(col, _NUMBER)))
            quoted = pc.binary_join_element_wise(pa.scalar("'", field.type), col, pa.scalar("", field.type))
            table = table.set_column(i, field, pc.if_else(risky, quoted, col))
    return table
