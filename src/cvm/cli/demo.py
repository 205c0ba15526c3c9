"""``cvm demo``: a believable demo company, loaded and run in one go."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled
from cvm.cli.options import JsonFlag, Workspace
from cvm.contracts import DATA_TABLES

if TYPE_CHECKING:
    from cvm.demo import DemoSummary
    from cvm.engine import Engine

app = typer.Typer(help="Generate a demo company with ground truth, or run the whole demo in one command.")

DATA_DIR = "demo-data"
Customers = Annotated[int, typer.Option("--customers", "-n", min=1, help="Number of customers.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same company).")]
Replay = Annotated[
    bool,
    typer.Option(
        "--replay/--no-replay",
        help="Replay the past year of decisions with exploration (SIMULATED outcomes from the "
        "ground truth), leaving a randomised decision log in the store for the uplift models.",
    ),
]


def _generate(customers: int, seed: int, out: Path, fmt: str = "parquet") -> DemoSummary:
    from cvm.demo import generate

    with console.progress() as bar:
        task = bar.add_task(f"Generating {customers:,} customers", total=None)
        summary = generate(customers, seed, out, fmt=fmt)  # type: ignore[arg-type]
        bar.update(task, completed=1, total=1)
    return summary


def _existing(out: Path, customers: int, seed: int) -> bool:
    meta = out / "ground_truth" / "meta.json"
    if not meta.exists():
        return False
    info = json.loads(meta.read_text())
    if (info.get("customers"), info.get("seed")) != (customers, seed):
        console.fail(
            f"{out} already holds a demo company of {info.get('customers')} customers (seed {info.get('seed')}); "
            "use another --workspace"
        )
    return True


def _train(engine: Engine) -> None:
    """Train the life-cycle models once, so that the demo's run writes churn, default and propensity scores."""
    with console.progress() as bar:
        task = bar.add_task("Training churn, default and propensity models", total=None)
        try:
            notes = engine.scoring.train(actor="demo").notes  # why a model is not champion, or not trained
        except (ValueError, RuntimeError) as exc:  # too small a company to learn from: scores stay value-only
            notes = [f"life-cycle models not trained: {exc}"]
        bar.update(task, completed=1, total=1)
    for note in notes:
        console.note(note)


@app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    customers: Customers = 5_000,
    seed: Seed = 42,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
    replay: Replay = True,
) -> None:
    """Generate the demo company, initialise the workspace, ingest every table and run the main job."""
    if ctx.invoked_subcommand is not None:
        return
    from cvm.cli.language import chosen
    from cvm.cli.policy import print_verdicts
    from cvm.cli.report import print_pilot_summary, print_run
    from cvm.demo.workspace import DEMO_REPLAY_MONTHS as REPLAY_MONTHS
    from cvm.demo.workspace import write_demo_config
    from cvm.engine import Engine
    from cvm.i18n import _, use_locale
    from cvm.i18n.formats import num

    with handled():
        write_demo_config(workspace)  # incremental arbitration with exploration: the closed loop of issue 18
        engine = Engine.init(workspace)
    out = engine.workspace / DATA_DIR
    if not _existing(out, customers, seed):
        _generate(customers, seed, out)
    with console.progress() as bar, handled():
        task = bar.add_task("Ingesting", total=len(DATA_TABLES))
        for table in DATA_TABLES:
            bar.update(task, description=f"Ingesting {table}")
            result = engine.ingest(table, sorted(out.glob(f"{table}.*")), actor="demo")
            if not result.ok:
                console.fail(f"demo data for {table} was refused: {result.rejected} rejected rows", code=1)
            bar.advance(task)
    if not engine.scoring.champions():
        _train(engine)
    with handled():
        report = engine.run(actor="demo")
        pilot = engine.pilots.demo_pilot(out / "ground_truth" / "customers_truth.parquet", actor="demo")
        replayed = engine.pilots.demo_replay(out, REPLAY_MONTHS) if replay else None
        if replayed:  # learn from the replayed log now, so the demo ends with its uplift models (the run saw no log)
            report = dataclasses.replace(report, uplift=engine.scoring.uplift(actor="demo"))
            replayed = {**replayed, "versus": engine.policy.verdicts("incremental", "propensity")}
    if json_out:
        console.json({**report.to_dict(), "pilot": pilot, **({"replay": replayed} if replayed else {})})
        return
    lang = chosen(None, engine.settings)  # reporting.locale, as `cvm run` prints
    print_run(report, json_out, lang)
    print_pilot_summary(pilot, lang)
    if replayed:
        rungs = replayed["rungs"]
        with use_locale(lang):
            line = _(
                "Decision log (SIMULATED outcomes): %(decisions)s decisions over %(months)s months, %(explored)s "
                "explored, %(held)s held out, in the store's decision_log."
            )
            console.note(line % {"decisions": num(replayed["decisions"]), "months": num(REPLAY_MONTHS),
                                 "explored": num(rungs.get("explore", 0)),
                                 "held": num(rungs.get("global_holdout", 0))})  # fmt: skip
            print_verdicts(replayed["versus"])


@app.command("generate")
def generate_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the tables and ground truth to.")],
    customers: Customers = 5_000,
    seed: Seed = 42,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    json_out: JsonFlag = False,
) -> None:
    """Write every hub table of a demo company over 3 years, plus hidden ground truth per customer."""
    if fmt not in ("parquet", "csv"):
        console.fail("--format must be parquet or csv")
    summary = _generate(customers, seed, out, fmt)
    if json_out:
        console.json(summary.to_dict())
        return
    console.table(f"Demo company in {out}", ["table", "rows"], sorted(summary.rows.items()))
