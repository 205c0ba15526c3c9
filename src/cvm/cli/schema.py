"""``cvm schema``: the hub tables' columns, types, required fields, allowed values, ranges and date rules."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cvm.cli.console import console
from cvm.cli.options import JsonFlag
from cvm.contracts import DATA_TABLES, describe


def print_schema(tables: list[str], json_out: bool = False, markdown: bool = False) -> None:
    """Print the given hub tables (all when empty) as console tables, JSON or the docs/tables.md text."""
    unknown = [t for t in tables if t not in DATA_TABLES]
    if unknown:
        console.fail(f"unknown table {unknown[0]!r}; tables: {', '.join(DATA_TABLES)}")
    chosen = {name: DATA_TABLES[name] for name in tables or DATA_TABLES}
    if markdown:
        sys.stdout.write(describe.markdown(chosen))
        return
    if json_out:
        console.json([describe.as_json(s) for s in chosen.values()])
        return
    for schema in chosen.values():
        console.table(f"{schema.name}: {describe.summary(schema)}", describe.HEADERS, describe.rows(schema))


def schema(
    table: Annotated[
        str | None, typer.Argument(help=f"One hub table ({', '.join(DATA_TABLES)}); all when omitted.")
    ] = None,
    json_out: JsonFlag = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the text of docs/tables.md.")] = False,
) -> None:
    """Show each hub table's columns: type, required, allowed values, range, and whether dates may lie in the future."""
    print_schema([table] if table else [], json_out, markdown)
