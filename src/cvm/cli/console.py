"""The one console every command prints through: tables, JSON, errors and progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, NoReturn

import typer
from rich.console import Console as RichConsole
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cvm.i18n import gettext


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


class Console:
    """Rich output for people, plain JSON for programs."""

    def __init__(self) -> None:
        self.out = RichConsole(highlight=False, soft_wrap=True)
        self.err = RichConsole(stderr=True, highlight=False, soft_wrap=True)

    def json(self, data: object) -> None:
        sys.stdout.write(json.dumps(data, default=_default, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def table(self, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        table = Table(title=title, title_justify="left")
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*("" if v is None else _fmt(v) for v in row))
        self.out.print(table)

    def print(self, text: str = "") -> None:
        self.out.print(text)

    def note(self, text: str) -> None:
        self.err.print(f"[dim]{text}[/dim]")

    def warn(self, text: str) -> None:
        head = gettext("warning") + gettext(":")  # in the report's language
        self.err.print(f"[yellow]{head}[/yellow] {text}")

    def fail(self, text: str, code: int = 2) -> NoReturn:
        self.err.print(f"[red]error:[/red] {text}", markup=True)
        raise typer.Exit(code)

    def progress(self, transient: bool = True) -> Progress:
        return Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=self.err,
            transient=transient,
        )


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


console = Console()


def as_json(data: Any) -> str:
    return json.dumps(data, default=_default)
