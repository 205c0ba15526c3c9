"""``cvm segments``: list the segments, show one, refresh them all."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.options import JsonFlag, Workspace

app = typer.Typer(help="Segments and life-cycle stages: definitions, sizes, history.", no_args_is_help=True)

AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="Date of the refresh, YYYY-MM-DD (default: today, UTC).", show_default=False),
]


def _as_of(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        console.fail(f"--as-of: {text!r} is not a date (YYYY-MM-DD)")


@app.command("list")
def list_(workspace: Workspace = Path("."), json_out: JsonFlag = False) -> None:
    """List every segment: kind, definition and size at the latest refresh."""
    engine = open_engine(workspace)
    with handled():
        rows, as_of = engine.plans.segments()
    if json_out:
        console.json({"as_of": as_of, "data": rows, "count": len(rows)})
        return
    title = f"Segments (latest refresh: {as_of or 'never; run `cvm segments refresh`'})"
    console.table(
        title,
        ["segment", "kind", "customers", "definition"],
        ([r["segment"], r["kind"], r["customers"], r["definition"]] for r in rows),
    )


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Segment name, e.g. vip, at_risk, stage:at_risk, value_risk:high/low.")],
    workspace: Workspace = Path("."),
    limit: Annotated[int, typer.Option(min=0, help="How many member ids to show.")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """Show one segment: definition, DuckDB SQL, size over time and some members."""
    engine = open_engine(workspace)
    with handled():
        info = engine.plans.segment(name, limit=limit)
    if json_out:
        console.json(info)
        return
    _print_segment(info)


def _print_segment(info: dict[str, Any]) -> None:
    console.print(f"[bold]{info['segment']}[/bold] ({info['kind']})")
    console.print(f"definition: {info['definition']}")
    if info.get("sql"):
        console.print(f"SQL: {info['sql']}")
    console.table("Size over time", ["as of", "customers"], ([h["as_of"], h["customers"]] for h in info["history"]))
    console.print(f"members (first {len(info['members'])}): {', '.join(info['members']) or '-'}")


@app.command()
def refresh(workspace: Workspace = Path("."), as_of: AsOf = None, json_out: JsonFlag = False) -> None:
    """Recompute every segment for the whole base and store the membership history."""
    engine = open_engine(workspace)
    with handled():
        report = engine.plans.refresh_segments(_as_of(as_of))
    data = report.to_dict()
    if json_out:
        console.json(data)
        return
    seconds = sum(report.seconds.values())
    console.table(
        f"Segments as of {report.as_of} ({report.customers:,} customers, {seconds:.2f} s; "
        f"previous refresh: {report.previous_as_of or 'none'})",
        ["segment", "customers", "entered", "left"],
        ([s["segment"], s["customers"], s["entered"], s["left"]] for s in data["segments"]),
    )
