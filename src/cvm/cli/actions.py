"""``cvm worker`` delivers the outbox; ``cvm actions`` lists, retries and counts action requests."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.options import JsonFlag, Workspace
from cvm.contracts.vocabulary import ACTION_STATUSES as STATUSES

app = typer.Typer(
    help="Action requests in the outbox: list, retry dead ones, confirm or reject those that end a relationship, "
    "count by status.",
    no_args_is_help=True,
)


class _ConsoleHandler(logging.Handler):
    """Worker log lines go through the one console, on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.levelno >= logging.WARNING:
            console.warn(text)
        else:
            console.note(text)


def _log_to_console() -> None:
    logger = logging.getLogger("cvm.delivery")
    if not any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
        logger.addHandler(_ConsoleHandler())
    logger.setLevel(logging.INFO)


def worker(
    workspace: Workspace = Path("."),
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit.")] = False,
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=256, help="Parallel webhook deliveries (default from cvm.yaml).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Deliver pending actions: signed webhooks, CSV/Parquet exports or the log, with retries.

    Stops cleanly on SIGTERM or Ctrl-C after the deliveries in progress; a worker
    killed outright loses nothing, since its claims return to the queue when their
    lease expires.
    """
    engine = open_engine(workspace)
    try:
        with handled():
            engine.delivery.migrate()
            runner = engine.delivery.worker(concurrency)
    except BaseException:
        engine.close()
        raise
    _log_to_console()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    if not once:
        console.note(f"worker {runner.worker_id} delivering; stop with Ctrl-C or SIGTERM")
    try:
        stats = runner.run(once=once, stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        runner.close()
        engine.close()
    if json_out:
        console.json(stats.to_dict())
    else:
        counts = stats.to_dict()
        console.print(", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command("list")
def list_(
    workspace: Workspace = Path("."),
    status: Annotated[str | None, typer.Option(help=f"Only this status: {', '.join(STATUSES)}.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer id.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 50,
    json_out: JsonFlag = False,
) -> None:
    """List action requests: plan, step, channel, status, attempts and the last error."""
    engine = open_engine(workspace)
    try:
        with handled():
            rows = engine.delivery.actions(status=status, customer_id=customer, limit=limit)
    finally:
        engine.close()
    if json_out:
        console.json(rows)
        return
    console.table(
        "Action requests",
        ["id", "customer", "plan", "step", "channel", "status", "attempts", "next attempt", "last error"],
        (
            [
                r["id"],
                r["customer_id"],
                r["plan"],
                r["step"],
                r["channel"],
                r["status"],
                r["attempts"],
                _due(r),
                r["last_error"],
            ]
            for r in rows
        ),
    )


def _due(row: dict[str, Any]) -> object:
    return row["next_attempt_at"] if row["status"] == "pending" else None


@app.command()
def retry(
    request_id: Annotated[int, typer.Argument(help="Id of a dead (or waiting) action request.")],
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Make a dead action due now, with a fresh attempt budget (the worker sends it next)."""
    engine = open_engine(workspace)
    try:
        with handled():
            row = engine.delivery.retry_action(request_id)
    finally:
        engine.close()
    if json_out:
        console.json(row)
    else:
        console.print(f"Action request {row['id']} is pending again; the worker sends it on its next cycle.")


@app.command()
def confirm(
    request_id: Annotated[int, typer.Argument(help="Id of an action request awaiting confirmation.")],
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Confirm an action that ends a relationship (objective end): the worker sends it next, once."""
    _decide(request_id, workspace, json_out, confirm=True)


@app.command()
def reject(
    request_id: Annotated[int, typer.Argument(help="Id of an action request awaiting confirmation.")],
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Reject an action that ends a relationship: it stays in the outbox as rejected and is never sent."""
    _decide(request_id, workspace, json_out, confirm=False)


def _decide(request_id: int, workspace: Path, json_out: bool, *, confirm: bool) -> None:
    engine = open_engine(workspace)
    try:
        with handled():
            service = engine.delivery
            row = service.confirm_action(request_id) if confirm else service.reject_action(request_id)
    finally:
        engine.close()
    if json_out:
        console.json(row)
    elif confirm:
        console.print(f"Action request {row['id']} is confirmed; the worker sends it on its next cycle.")
    else:
        console.print(f"Action request {row['id']} is rejected; it will not be sent.")


@app.command()
def status(workspace: Workspace = Path("."), json_out: JsonFlag = False) -> None:
    """Count action requests by status, with how many are due and the oldest pending one."""
    engine = open_engine(workspace)
    try:
        with handled():
            counts = engine.delivery.actions_status()
    finally:
        engine.close()
    if json_out:
        console.json(counts)
        return
    console.table("Outbox", ["status", "requests"], ([k, v] for k, v in counts.items()))


@app.command()
def summary(workspace: Workspace = Path("."), json_out: JsonFlag = False) -> None:
    """Plans & actions: requests per plan and channel by status, held back by reason, contact pressure, value."""
    engine = open_engine(workspace)
    try:
        with handled():
            data = engine.delivery.summary().to_dict()
    finally:
        engine.close()
    if json_out:
        console.json(data)
        return
    from cvm.reporting.actions import HELD_KINDS, REQUEST_STATUSES

    console.table(
        "Requests by status",
        ["plan", "channel", *REQUEST_STATUSES, "total"],
        ([r["plan"], r["channel"], *(r[s] for s in REQUEST_STATUSES), r["total"]] for r in data["requests"]),
    )
    console.table("Held back", ["reason", "actions"], ([k, data["held_by_kind"][k]] for k in HELD_KINDS))
    console.table(
        "Contact pressure",
        ["cap", "window", "limit", "contacts", "customers", "busiest", "at cap"],
        (
            [p["channel"], p["window"], p["cap"], p["contacts"], p["customers"], p["max_per_customer"], p["at_cap"]]
            for p in data["pressure"]
        ),
    )
    for row in data["dead"]:
        console.print(f"dead: request {row['id']} ({row['plan']}, {row['channel']}): {row['retry']}")
