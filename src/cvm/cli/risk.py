"""``cvm risk``: the cut-off strategy table, cut-off simulation and early warning."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.options import JsonFlag, Workspace
from cvm.cli.score import _parse_date

app = typer.Typer(help="Risk appetite: cut-off table, simulation and acceptance policy, early warning.")


@app.command("cutoffs")
def cutoffs(workspace: Workspace = Path("."), json_out: JsonFlag = False) -> None:
    """One row per score band: applicants, approval and bad rate, expected loss and value at that cut-off."""
    from cvm.risk import cutoff_table

    engine = open_engine(workspace)
    with handled():
        as_of, book = engine.scoring.book()
        table = cutoff_table(book["points"].to_numpy(), book["p_bad"].to_numpy(), engine.settings.risk)
    current = engine.settings.risk.acceptance.cutoff
    if json_out:
        console.json({"as_of": as_of, "cutoff": current, "data": table.to_dict("records"), "count": len(table)})
        return
    console.table(
        f"Cut-off table as of {as_of} (current cut-off: {current if current is not None else 'none'})",
        ["band", "applicants", "band bad rate", "approval", "bad rate", "expected loss", "expected value"],
        (
            [
                r["band"],
                r["applicants"],
                _pct(r["band_bad_rate"]),
                _pct(r["approval_rate"]),
                _pct(r["bad_rate"]),
                r["expected_loss"],
                r["expected_value"],
            ]
            for r in table.to_dict("records")
        ),
    )


def _pct(value: Any) -> str:
    return "" if value is None or value != value else f"{value:.1%}"


@app.command("simulate")
def simulate_cmd(
    cutoff: Annotated[float, typer.Option("--cutoff", help="Proposed cut-off in scorecard points.")],
    apply: Annotated[bool, typer.Option("--apply", help="Write it into cvm.yaml as the acceptance policy.")] = False,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """What moving the cut-off does to the accepted book; --apply makes it the acceptance policy."""
    from cvm.risk import simulate

    engine = open_engine(workspace)
    with handled():
        _, book = engine.scoring.book()
        result = simulate(book["points"].to_numpy(), book["p_bad"].to_numpy(), engine.settings.risk, cutoff)
        path = engine.scoring.set_cutoff(cutoff) if apply else None
    if json_out:
        console.json({**result.to_dict(), "applied": path is not None})
        return
    keys = ["cutoff", "accepted", "approval_rate", "bad_rate", "expected_loss", "expected_value"]
    delta = result.delta
    console.table(
        f"Cut-off simulation ({result.direction})",
        ["", *keys],
        [
            ["current", *(result.current[k] for k in keys)],
            ["proposed", *(result.proposed[k] for k in keys)],
            ["change", "", *(delta[k] for k in keys[1:])],
        ],
    )
    if path is not None:
        console.print(f"Acceptance cut-off {cutoff:g} written to {path}.")


@app.command("early-warning")
def early_warning(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Scoring date (default: the latest).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most customers shown, worst first.")] = 50,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Customers whose default score fell by more than the configured points, or whose grade worsened."""
    day = _parse_date(as_of)
    engine = open_engine(workspace)
    found, rows = engine.scoring.early_warning(day)
    data = rows.head(limit).to_dicts()
    if json_out:
        console.json({"as_of": found, "data": data, "count": rows.height})
        return
    console.table(
        f"Early warning as of {found} ({rows.height:,} customers)",
        ["customer", "points drop", "grade", "reasons"],
        ([r["customer_id"], r["value"], r["grade"], r["reasons"]] for r in data),
    )
