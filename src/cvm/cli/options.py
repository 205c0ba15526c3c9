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
