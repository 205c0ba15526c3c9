"""Rows sent as JSON to ``POST /tables/{table}/rows``: to a frame of text, and rejects back to field problems.

Each cell goes to the hub's contract as the text a file would hold (``true``, ``12.5``), so a
JSON row and a CSV line are checked alike: ``true`` is no amount, whichever way it came.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from cvm.api.errors import issue
from cvm.api.schemas import Cell


def _text(value: Cell) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rows_frame(rows: list[dict[str, Cell]]) -> pl.DataFrame:
    """The rows as a frame of text columns, in the order the columns first appear; a missing cell is null."""
    columns = list(dict.fromkeys(name for row in rows for name in row))
    return pl.DataFrame(
        {name: [_text(row.get(name)) for row in rows] for name in columns},
        schema=dict.fromkeys(columns, pl.Utf8),
    )


def reject_issues(rejects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rejected cells as field problems: ``["body", "rows", index, field]`` and the reason."""
    return [issue(("body", "rows", int(r["line"]) - 1, str(r["field"])), str(r["reason"]), "rejected") for r in rejects]
