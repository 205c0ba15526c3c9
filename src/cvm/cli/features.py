"""``cvm features build``: store the features of every customer as of a date (table ``features``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.options import JsonFlag, Workspace
from cvm.cli.segments import _as_of  # the same --as-of date as a segment refresh

app = typer.Typer(help="The features table: point-in-time features per customer and date.", no_args_is_help=True)

AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="Date of the features, YYYY-MM-DD (default: today, UTC).", show_default=False),
]


@app.command()
def build(workspace: Workspace = Path("."), as_of: AsOf = None, json_out: JsonFlag = False) -> None:
    """Compute the features as of a date and replace that date's partition of the features table."""
    engine = open_engine(workspace)
    with handled():
        report = engine.scoring.build_features(_as_of(as_of))
    if json_out:
        console.json(report.to_dict())
        return
    console.print(
        f"Features as of {report.as_of}: {report.rows:,} customers stored (backend: {report.backend}; "
        f"products: {', '.join(report.products) or 'none'})."
    )
