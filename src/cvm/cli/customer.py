"""``cvm customer``: the 360° view, search and erasure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.language import LangOption, chosen
from cvm.cli.options import JsonFlag, Workspace
from cvm.i18n import _, use_locale
from cvm.i18n.formats import money, num
from cvm.i18n.labels import label

app = typer.Typer(help="Look up customers: the 360° view, search, and erasure of personal data.", no_args_is_help=True)


def _print_profile(view: dict[str, Any]) -> None:
    """The 360° view as tables, in the current language."""
    fields = [_("field"), _("value")]
    p = view["profile"]
    console.table(_("Customer %(id)s") % {"id": view["customer_id"]}, fields, _labelled(p))
    console.table(_("Key figures"), fields, _labelled(view["kpis"]))
    h = view["holdings"]
    console.table(
        _("Active subscriptions (MRR %(mrr)s)") % {"mrr": money(h["mrr"], 2)},
        [_("product"), _("start"), _("MRR")],
        ([s["product"], s["start"], money(s["mrr"], 2)] for s in h["subscriptions"]),
    )
    console.table(
        _("Products bought"),
        [_("product"), _("purchases"), _("revenue"), _("margin"), _("last purchase")],
        (
            [p["product"], num(p["purchases"]), money(p["revenue"], 2), money(p["margin"], 2), p["last_purchase"]]
            for p in h["products"]
        ),
    )
    if view["scores"]:
        from cvm.scoring.reasons import row_text  # the scoring package: only when there are scores to explain

        console.table(
            _("Scores"),
            [_("score"), _("value"), _("grade"), _("as of"), _("why")],
            (
                [label(s["score"], "score"), num(s["value"], 2), label(s["grade"], "grade"), s["as_of"], row_text(s)]
                for s in view["scores"]
            ),
        )
    console.table(
        _("Timeline"), [_("when"), _("type"), _("what")], ([e["ts"], e["type"], e["summary"]] for e in view["timeline"])
    )


def _labelled(fields: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(label(k, "field"), v) for k, v in fields.items()]


@app.command()
def show(
    customer_id: Annotated[str, typer.Argument(help="Customer id.")],
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
    lang: LangOption = None,
) -> None:
    """Print the profile, holdings, key figures, scores (reasons as sentences) and the timeline of every touchpoint."""
    engine = open_engine(workspace)
    with handled(), use_locale(chosen(lang, engine.settings)):
        view = engine.customers.customer(customer_id)
        if not json_out:
            _print_profile(view)
    if json_out:
        console.json(view)


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
