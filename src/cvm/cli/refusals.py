"""Why inbox files were refused or rows rejected, printed under the `cvm run` table."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from cvm.cli.console import console

if TYPE_CHECKING:  # the CLI imports this module at start-up: no Polars here
    from cvm.ingest.batch import BatchResult

SHOWN_CELLS = 5
CELL_COLUMNS = ("file", "line", "field", "value", "reason")  # the file's full path heads its cells


class QuarantineStatus(StrEnum):
    """The status of a quarantined cell (see :mod:`cvm.ingest.quarantine`)."""

    refused = "refused"
    rejected = "rejected"
    resolved = "resolved"


def _cells(batch: BatchResult) -> None:
    cells = batch.explain(SHOWN_CELLS)
    if not cells["rejects"]:
        return
    console.table(
        None,
        CELL_COLUMNS,
        ([Path(c["source"]).name, str(c["line"]), c["field"], c["value"], c["reason"]] for c in cells["rejects"]),
    )
    more = cells["rejected_cells"] - len(cells["rejects"])
    if more > 0:
        console.note(f"… {more} more rejected cells: `cvm quarantine --batch {batch.batch_id}`")


def print_refusals(batches: Sequence[BatchResult]) -> None:
    """Per refused file its reason and first rejected cells; per retry its message; where the rest is."""
    for b in batches:
        name = escape(", ".join(b.sources))
        if b.status == "refused":
            console.print(f"[red]refused:[/red] {name} ({b.table}): {escape(b.reason)}. Nothing of it was stored;")
            console.print("  it stays in the inbox: correct it (or the rows it needs) and run again.")
            _cells(b)
        elif b.status == "retried":
            console.print(f"{name} ({b.table}): {escape(b.message)}.")
        elif b.status == "committed" and b.rejected:
            console.print(f"{name} ({b.table}): {b.rejected:,} of {b.read:,} rows rejected, the rest loaded.")
            _cells(b)
        elif b.message:
            console.print(f"{name} ({b.table}): {escape(b.message)}.")
