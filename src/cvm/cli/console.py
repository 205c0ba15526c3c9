"""The one console every command prints through: tables, JSON, CSV, errors and progress.

* JSON is always valid JSON: NaN and infinity become ``null`` (strict parsers refuse ``NaN``).
* Tables fit the terminal (80 columns when not a terminal): text columns wrap, number columns never do.
  Ids (a column named ``id``, ``*_id``, ``batch``, ``line``...) are printed as written, never as ``1,600``.
* ``cvm --csv COMMAND`` prints every table as CSV instead, for a spreadsheet; text cells that a
  spreadsheet would run as a formula are escaped (:mod:`cvm.contracts.csvsafe`).
* Under ``--json`` an error is ``{"error": ...}`` on stdout (:mod:`cvm.cli.errors` sets :attr:`Console.json_errors`).
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console as RichConsole
from rich.markup import escape
from rich.table import Table

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

    def json(self, data: object) -> None:
        text = json.dumps(finite(data), default=_default, indent=2, ensure_ascii=False, allow_nan=False)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def table(self, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        rows = list(rows)
        if self.csv:
            self._csv(columns, rows)
            return
        table = Table(title=title, title_justify="left")
        for i, col in enumerate(columns):
            numeric = not is_id(col) and _numeric(row[i] for row in rows)
            if numeric:
                table.add_column(col, justify="right", no_wrap=True)
            else:
                table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*("" if v is None else _fmt(v, is_id(c)) for c, v in zip(columns, row, strict=False)))
        self.out.print(table)

    def _csv(self, columns: Sequence[str], rows: list[Sequence[object]]) -> None:
        from cvm.contracts.csvsafe import safe_cell

        if self._tables:
            sys.stdout.write("\n")
        self._tables += 1
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([safe_cell(c) for c in columns])
        for row in rows:
            writer.writerow([safe_cell(_plain(v)) for v in row])
        sys.stdout.flush()

    def print(self, text: str = "") -> None:
        if self.csv:  # stdout holds the CSV only
            self.err.print(text)
        else:
            self.out.print(text)

    def note(self, text: str) -> None:
        self.err.print(f"[dim]{text}[/dim]")

    def warn(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {text}")

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


def _numeric(values: Iterable[object]) -> bool:
    """Whether a column holds numbers only (None aside), and at least one."""
    seen = False
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float):
            return False
        seen = True
    return seen


def _plain(value: object) -> object:
    """A cell for CSV: numbers unformatted, dates ISO, None empty, NaN empty."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
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
