"""``cvm sources``: propose the ``sources:`` mapping of cvm.yaml from a company's own export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cvm.cli.console import console
from cvm.cli.options import JsonFlag
from cvm.contracts import DATA_TABLES

app = typer.Typer(help="Saved source mappings (the sources: block of cvm.yaml).", no_args_is_help=True)


@app.command()
def suggest(
    path: Annotated[Path, typer.Argument(help="An export file (CSV, JSON lines or Parquet).")],
    table: Annotated[str, typer.Option("--table", "-t", help=f"Hub table: {', '.join(DATA_TABLES)}.")],
    json_out: JsonFlag = False,
) -> None:
    """Propose a mapping block from the file's headers and values, to paste into cvm.yaml and check.

    Headers are matched to the table's columns by name and French, Dutch and English synonyms;
    the options are what the reader detected; headers not matched are listed as comments.
    """
    from cvm.cli.errors import handled
    from cvm.ingest.readers import read_source
    from cvm.ingest.suggest import suggest as propose

    if table not in DATA_TABLES:
        console.fail(f"unknown table {table!r}; tables: {', '.join(DATA_TABLES)}")
    with handled():
        proposal = propose(read_source(path), DATA_TABLES[table])
    if json_out:
        console.json(proposal.as_dict())
        return
    console.out.print(proposal.yaml(), end="", markup=False, highlight=False, soft_wrap=True)
    console.note(f"paste this block into cvm.yaml (merge it under an existing sources: key); `cvm schema {table}`")
