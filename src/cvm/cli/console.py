"""The one console every command prints through: tables, JSON, CSV, errors and progress.

* JSON is always valid JSON: NaN and infinity become ``null`` (strict parsers refuse ``NaN``).
* Tables fit the terminal (80 columns when not a terminal): text columns wrap, number columns never do;
  a table with too many columns for that is printed as several, each repeating the first column.
  Ids (a column named ``id``, ``*_id``, ``batch``, ``line``...) are printed as written, never as ``1,600``.
* ``cvm --csv COMMAND`` prints every table as CSV instead, for a spreadsheet; text cells that a
  spreadsheet would run as a formula are escaped (:mod:`cvm.contracts.csvsafe`).
* Under ``--json`` an error is ``{"error": ...}`` on stdout (:mod:`cvm.cli.errors` sets :attr:`Console.json_errors`).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console as RichConsole
from rich.markup import escape
from rich.table import Table

from cvm.i18n import gettext

if TYPE_CHECKING:
    from rich.progress import Progress

ID_NAMES = frozenset({"id", "batch", "line", "version", "key", "request", "customer", "year"})
"""Column names (besides ``*_id`` and ``* id``) whose integers are labels, not quantities."""


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def finite(data: Any) -> Any:
    """``data`` with every NaN or infinite float (at any depth) replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [finite(v) for v in data]
    return data


def is_id(column: str) -> bool:
    """Whether a column holds labels that must not be formatted as numbers."""
    name = column.strip().lower()
    return name in ID_NAMES or name.endswith(("_id", " id", "_key"))


class Console:
    """Rich output for people, plain JSON or CSV for programs."""

    def __init__(self) -> None:
        self.out = RichConsole(highlight=False, soft_wrap=True)
        self.err = RichConsole(stderr=True, highlight=False, soft_wrap=True)
        self.csv = False
        """Print tables as CSV (``cvm --csv``)."""
        self.json_errors = False
        """Print errors as JSON on stdout (the command line holds ``--json``)."""
        self._tables = 0

    def start(self, csv: bool = False) -> None:
        """Begin a command: tables as CSV or not (``cvm --csv``)."""
        self.csv, self._tables = csv, 0

    def json(self, data: object) -> None:
        text = json.dumps(finite(data), default=_default, indent=2, ensure_ascii=False, allow_nan=False)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def table(self, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        """Print a table; too wide for the terminal, it is split into column groups that repeat the first column."""
        rows = list(rows)
        if self.csv:
            self._csv(columns, rows)
            return
        ids = [is_id(c) for c in columns]
        cells = [["" if v is None else _fmt(v, label) for v, label in zip(row, ids, strict=False)] for row in rows]
        numeric = [not ids[i] and _numeric([row[i] for row in rows if i < len(row)]) for i in range(len(columns))]
        for number, group in enumerate(_groups(columns, cells, numeric, self.out.width)):
            table = Table(title=title if number == 0 else None, title_justify="left")
            for i in group:
                if numeric[i]:
                    table.add_column(columns[i], justify="right", no_wrap=True)
                else:
                    table.add_column(columns[i], overflow="fold")
            for row in cells:
                table.add_row(*(row[i] if i < len(row) else "" for i in group))
            self.out.print(table)

    def _csv(self, columns: Sequence[str], rows: list[Sequence[object]]) -> None:
        from cvm.contracts.csvsafe import SafeWriter

        if self._tables:
            sys.stdout.write("\n")
        self._tables += 1
        writer = SafeWriter(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_plain(v) for v in row])
        sys.stdout.flush()

    def print(self, text: str = "") -> None:
        if self.csv:  # stdout holds the CSV only
            self.err.print(text)
        else:
            self.out.print(text)

    def note(self, text: str) -> None:
        self.err.print(f"[dim]{text}[/dim]")

    def warn(self, text: str) -> None:
        head = gettext("warning") + gettext(":")  # in the report's language
        self.err.print(f"[yellow]{head}[/yellow] {text}")

    def fail(self, text: str, code: int = 2) -> NoReturn:
        if self.json_errors:
            self.json({"error": text})
        else:
            self.err.print(f"[red]error:[/red] {escape(text)}")
        raise typer.Exit(code)

    def progress(self, transient: bool = True) -> Progress:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        return Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=self.err,
            transient=transient,
        )


_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?%?$")
"""A number as the commands format it: 1,234.5, -0.25, 12%."""


def _numeric(values: Sequence[object]) -> bool:
    """Whether a column holds numbers only (None and empty text aside), and at least one."""
    seen = False
    for v in values:
        if v is None or v == "":
            continue
        if isinstance(v, bool):
            return False
        if not isinstance(v, int | float | Decimal) and not (isinstance(v, str) and _NUMBER.match(v.strip())):
            return False
        seen = True
    return seen


def _need(header: str, cells: Iterable[str], numeric: bool) -> int:
    """The narrowest readable width of a column: numbers (and their header, which Rich keeps on a line) whole,
    text at least a word or 10 characters."""
    word = len(header) if numeric else max((len(w) for w in header.split()), default=1)
    longest = max((len(c) for c in cells), default=0)
    return max(word, longest if numeric else min(longest, 10), 1)


def _groups(columns: Sequence[str], cells: list[list[str]], numeric: list[bool], width: int) -> list[list[int]]:
    """Column indexes per printed table: all of them when they fit in ``width``, else groups repeating column 0."""
    need = [_need(c, (row[i] for row in cells if i < len(row)), numeric[i]) + 3 for i, c in enumerate(columns)]
    if sum(need) + 1 <= width or len(columns) < 3:
        return [list(range(len(columns)))]
    groups: list[list[int]] = [[0]]
    for i in range(1, len(columns)):
        if len(groups[-1]) > 1 and sum(need[j] for j in groups[-1]) + need[i] + 1 > width:
            groups.append([0])
        groups[-1].append(i)
    return groups


def _plain(value: object) -> object:
    """A cell for CSV: numbers unformatted, dates ISO, None empty, NaN empty."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, str) and _NUMBER.match(value.strip()) and not value.strip().endswith("%"):
        return value.strip().replace(",", "")  # 1,234.50 as the commands format it: 1234.50 for a spreadsheet
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _fmt(value: object, label: bool = False) -> str:
    if label:
        return value.isoformat() if isinstance(value, datetime | date) else str(value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


console = Console()


def as_json(data: Any) -> str:
    return json.dumps(finite(data), default=_default, allow_nan=False)
