"""``cvm customer``: the 360° view, search and erasure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.options import JsonFlag, Workspace

app = typer.Typer(help="Look up customers: the 360° view, search, and erasure of personal data.", no_args_is_help=True)


def _print_profile(view: dict[str, Any]) -> None:
    p = view["profile"]
    console.table(f"Customer {view['customer_id']}", ["field", "value"], list(p.items()))
    k = view["kpis"]
    console.table("Key figures", ["field", "value"], list(k.items()))
    h = view["holdings"]
    console.table(
        f"Active subscriptions (MRR {h['mrr']:,.2f})",
        ["product", "start", "mrr"],
        ([s["product"], s["start"], s["mrr"]] for s in h["subscriptions"]),
    )
    console.table(
        "Products bought",
        ["product", "purchases", "revenue", "margin", "last purchase"],
        ([p["product"], p["purchases"], p["revenue"], p["margin"], p["last_purchase"]] for p in h["products"]),
    )
    if view["scores"]:
        console.table(
            "Scores",
            ["score", "value", "grade", "as of", "why"],
            ([s["score"], s["value"], s["grade"], s["as_of"], s.get("reasons_text")] for s in view["scores"]),
        )
    console.table("Timeline", ["when", "type", "what"], ([e["ts"], e["type"], e["summary"]] for e in view["timeline"]))


@app.command()
def show(
    customer_id: Annotated[str, typer.Argument(help="Customer id.")],
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Print the profile, holdings, key figures, scores and the timeline of every touchpoint."""
    engine = open_engine(workspace)
    with handled():
        view = engine.customers.customer(customer_id)
    if json_out:
        console.json(view)
    else:
        _print_profile(view)


@app.command("list")
def list_(
    q: Annotated[str | None, typer.Option(help="Search id, name or e-mail.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """List customers, optionally matching a search."""
    rows, count = open_engine(workspace).customers.customers(limit=limit, offset=offset, q=q)
    if json_out:
        console.json({"data": rows, "count": count})
        return
    console.table(
        f"Customers ({count:,} match)",
        ["id", "name", "kind", "region", "channel", "acquired"],
        ([r["customer_id"], r["name"], r["kind"], r["region"], r["channel"], r["acquired_at"]] for r in rows),
    )


@app.command()
def erase(
    customer_id: Annotated[str, typer.Argument(help="Customer id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Erase a customer's personal data from every store and data file; anonymous aggregates and an audit remain."""
    engine = open_engine(workspace)
    if not yes and not typer.confirm(f"Erase the personal data of {customer_id}? This cannot be undone"):
        raise typer.Exit(1)
    with handled():
        erasure = engine.customers.erase(customer_id)
    if json_out:
        console.json({"subject": erasure.subject, "rows": erasure.rows})
    else:
        console.print(f"Erased {customer_id}: {erasure.total} rows anonymised or removed ({erasure.rows}).")
