"""Entry point of the ``cvm`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cvm import __version__
from cvm.cli import (
    actions,
    clv,
    customer,
    demo,
    features,
    ingest,
    keys,
    models,
    pilot,
    policy,
    reports,
    risk,
    schema,
    score,
    segments,
    sources,
)
from cvm.cli.console import console
from cvm.cli.errors import CvmGroup, handled, open_engine
from cvm.cli.options import CsvFlag, DebugFlag, JsonFlag, Workspace
from cvm.cli.refusals import QuarantineStatus

app = typer.Typer(
    name="cvm",
    cls=CvmGroup,
    help="CVM: Customer Value Management. Load customer data, score it, act on it, measure it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(demo.app, name="demo")
app.add_typer(customer.app, name="customer")
app.add_typer(keys.app, name="keys")
app.command("ingest")(ingest.ingest)
app.command("schema")(schema.schema)
app.add_typer(sources.app, name="sources")
app.add_typer(reports.app, name="report")
app.add_typer(clv.app, name="clv")
app.command("score")(score.score)
app.command("train")(models.train)
app.add_typer(models.app, name="models")
app.add_typer(risk.app, name="risk")
app.command("worker")(actions.worker)
app.add_typer(actions.app, name="actions")
app.add_typer(segments.app, name="segments")
app.add_typer(features.app, name="features")
app.add_typer(pilot.app, name="pilot")
app.add_typer(policy.app, name="policy")


def _version(value: bool) -> None:
    if value:
        console.print(f"cvm {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: DebugFlag = False,
    csv_out: CsvFlag = False,
) -> None:
    """CVM: Customer Value Management."""
    console.start(csv=csv_out)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder of the new workspace (created if missing).")] = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Create a workspace: a commented cvm.yaml, the offline and online stores and the inbox."""
    from cvm.engine import Engine

    with handled():
        engine = Engine.init(directory)
    info = {
        "workspace": str(engine.workspace),
        "config": str(engine.workspace / "cvm.yaml"),
        "offline": str(engine.reports.data_folder),
        "online": engine.access.backend,
    }
    if json_out:
        console.json(info)
    else:
        console.print(f"Workspace ready at [bold]{engine.workspace}[/bold] (online store: {engine.access.backend}).")
        console.print("Next: `cvm ingest customers FILE` or drop files in inbox/<table>/ and `cvm run`.")


@app.command()
def run(workspace: Workspace = Path("."), json_out: JsonFlag = False) -> None:
    """Run the main job: ingest the inbox, then refresh and summarise the hub."""
    from cvm.cli.language import chosen
    from cvm.cli.report import print_run

    engine = open_engine(workspace)
    with handled():
        report = engine.run()
    print_run(report, json_out, chosen(None, engine.settings))
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def audit(
    workspace: Workspace = Path("."),
    limit: Annotated[int, typer.Option(help="How many entries, newest first.")] = 50,
    json_out: JsonFlag = False,
) -> None:
    """Show the append-only audit log: who wrote what, when, and how many rows."""
    entries = open_engine(workspace).access.audit_entries(limit)
    if json_out:
        console.json(entries)
        return
    console.table(
        "Audit log",
        ["at", "actor", "action", "target", "rows"],
        ([e["at"], e["actor"], e["action"], e["target"], e["rows"]] for e in entries),
    )


@app.command()
def quarantine(
    workspace: Workspace = Path("."),
    table: Annotated[str | None, typer.Option(help="Only this table.")] = None,
    batch: Annotated[str | None, typer.Option(help="Only this batch id.")] = None,
    status: Annotated[QuarantineStatus | None, typer.Option(help="Only refused, rejected or resolved cells.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many rejected cells, newest batch first.")] = 100,
    json_out: JsonFlag = False,
) -> None:
    """Show rejected cells: batch, status, source file, line, field, value and reason.

    Status: refused (the whole file was refused), rejected (row left out of a loaded file), resolved (a later
    batch loaded the row: resolved_by names it).
    """
    rows = open_engine(workspace).ingest.quarantine(table, batch, limit, status.value if status else None).to_dicts()
    if json_out:
        console.json(rows)
        return
    console.table(
        "Quarantine",
        ["batch", "status", "table", "source", "line", "field", "value", "reason"],
        (
            [r["batch_id"], r["status"], r["table"], r["source"], str(r["line"]), r["field"], r["value"], r["reason"]]
            for r in rows
        ),
    )


@app.command()
def serve(
    workspace: Workspace = Path("."),
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default from cvm.yaml).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from cvm.yaml).")] = None,
    log_dir: Annotated[
        Path | None, typer.Option(help="Also write access.log and server.log here (default: privacy.log_dir).")
    ] = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs, health at /health) for one workspace.

    The access log (stdout, and ``access.log`` in the log directory) masks customer ids and query values.
    """
    import uvicorn

    from cvm.api import create_app
    from cvm.api.accesslog import log_config

    engine = open_engine(workspace)
    with handled():
        engine.delivery.migrate()
    configured = engine.settings.privacy.log_dir
    folder = log_dir or (engine.workspace / configured if configured else None)
    app_ = create_app(engine)
    engine.plans.events.warm()
    uvicorn.run(
        app_,
        host=host or engine.settings.api.host,
        port=port or engine.settings.api.port,
        log_level="info",
        log_config=log_config(folder),
    )


if __name__ == "__main__":  # pragma: no cover
    app()
