"""``cvm score``: compute the scores of every customer as of a date and keep their history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.options import JsonFlag, Workspace

if TYPE_CHECKING:
    from cvm.engine import ScoreReport


def print_scores(report: ScoreReport) -> None:
    """The compact report of a scoring run (also part of ``cvm run``)."""
    console.note(f"Offline backend: {report.backend}")
    if report.skipped:
        console.note(f"Scores as of {report.as_of}: skipped ({report.skipped})")
        return
    g, t = report.grades, report.totals
    console.table(
        f"Scores as of {report.as_of} ({report.rows:,} rows; grades: {report.grading})",
        ["customers", "high", "medium", "low", "CLV", "purchases 12 m", "P(alive)"],
        [
            [
                report.customers,
                g.get("high"),
                g.get("medium"),
                g.get("low"),
                f"{t['clv']:,.0f}",
                f"{t['exp_purchases_12m']:,.0f}",
                f"{t['mean_p_alive']:.2f}",
            ]
        ],
    )
    console.table(
        "Value models",
        ["model", "version", "customers", "LL", "converged", "parameters"],
        (
            [
                f"{m['role']}: {m['model']}",
                m["version"],
                int(m["n_customers"]),
                f"{m['log_likelihood']:,.0f}",
                m["converged"],
                ", ".join(f"{k}={v:.3g}" for k, v in m["params"].items()),
            ]
            for m in report.models
        ),
    )
    for note in report.notes:
        console.note(note)


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        console.fail(f"--as-of must be a date YYYY-MM-DD, got {value!r}")


def score(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Score date YYYY-MM-DD (default: today, UTC).")] = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Score every customer as of a date (value: history, expected purchases, P(alive), CLV and grade).

    Only data known at the end of that day is used; re-scoring a date replaces its scores.
    """
    from cvm.engine import ScoreReport
    from cvm.scoring import ScoringError

    day = _parse_date(as_of)
    engine = open_engine(workspace)
    refused: ScoreReport | None = None
    with console.progress() as bar, handled():
        bar.add_task("Scoring", total=None)
        try:
            report = engine.scoring.score(as_of=day)
        except ScoringError as exc:  # too little data, or a model that cannot be trusted: nothing written
            refused = ScoreReport(
                as_of=day or datetime.now(UTC).date(), skipped=str(exc), backend=engine.scoring.backend
            )
    if refused is not None:
        if json_out:  # one JSON document: the refused report says why (skipped)
            console.json(refused.to_dict())
            raise typer.Exit(2)
        console.fail(str(refused.skipped))
    if json_out:
        console.json(report.to_dict())
    else:
        print_scores(report)
