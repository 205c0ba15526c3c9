"""Options shared by many commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Workspace = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar="CVM_WORKSPACE",
        help="Workspace folder (default: $CVM_WORKSPACE, then the current folder).",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
DebugFlag = Annotated[
    bool,
    typer.Option("--debug", envvar="CVM_DEBUG", help="Show the traceback of an unexpected error (also CVM_DEBUG=1)."),
]
CsvFlag = Annotated[bool, typer.Option("--csv", help="Print every table as CSV, for a spreadsheet.")]

# How to read a file: `cvm ingest` and `cvm clv fit` (cvm.ingest.readers.ReadOptions); each is detected when omitted.
Delimiter = Annotated[str | None, typer.Option(help="CSV delimiter (detected when omitted).")]
Encoding = Annotated[str | None, typer.Option(help="Text encoding, e.g. utf-8, latin-1 (detected).")]
DecimalMark = Annotated[str | None, typer.Option("--decimal", help="Decimal separator: '.' or ',' (detected).")]
DateFormat = Annotated[str | None, typer.Option(help="Date pattern such as %d/%m/%Y (detected).")]
