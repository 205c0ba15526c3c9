"""Every error of every command as one line: user errors exit 2, anything else exits 1.

:class:`~cvm.errors.CvmError` is the user's to fix: its message is printed as it is (``{"error": ...}`` on
stdout under ``--json``) with its exit code (2). Any other exception is unexpected: one line naming its
type, exit 1, and the traceback only with ``cvm --debug`` or ``CVM_DEBUG=1``. :class:`CvmGroup` applies this
to every command in one place (its ``main``), and lists the commands in workflow order.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer._click import Context
from typer.core import TyperGroup

from cvm.cli.console import console
from cvm.errors import CvmError

if TYPE_CHECKING:
    from cvm.engine import Engine

ORDER = (
    "init",
    "demo",
    "schema",
    "sources",
    "ingest",
    "run",
    "quarantine",
    "features",
    "score",
    "train",
    "models",
    "clv",
    "segments",
    "actions",
    "worker",
    "pilot",
    "policy",
    "report",
    "risk",
    "customer",
    "serve",
    "keys",
    "audit",
)
"""The commands in the order of a first day's work; commands not named here follow, alphabetically.
(``schema`` and ``sources`` are added by other branches of issue 15: they belong before ``ingest``.)"""


def debugging(argv: Sequence[str] = ()) -> bool:
    """Whether tracebacks are wanted: ``--debug`` before the command, or ``CVM_DEBUG`` set to 1."""
    return os.environ.get("CVM_DEBUG", "").strip().lower() in ("1", "true", "yes") or "--debug" in argv


@contextmanager
def handled() -> Iterator[None]:
    """Report a user error (:class:`~cvm.errors.CvmError`) as one line and its exit code."""
    try:
        yield
    except CvmError as exc:
        console.fail(str(exc), exc.exit_code)


def open_engine(workspace: Path) -> Engine:
    """Open the workspace or exit with a message saying how to create it."""
    from cvm.engine import Engine

    with handled():
        return Engine.open(workspace)
    raise AssertionError("unreachable")  # pragma: no cover


def _unexpected(exc: Exception) -> str:
    """One line for an exception CVM did not expect."""
    text = str(exc).strip().splitlines()
    return f"unexpected {type(exc).__name__}: {text[0] if text else 'no message'} (run `cvm --debug ...` for details)"


class CvmGroup(TyperGroup):
    """The ``cvm`` group: commands in workflow order, and one error line (never a traceback) for any failure."""

    def list_commands(self, ctx: Context) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(ORDER)), n))

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        console.json_errors = "--json" in argv
        try:
            return super().main(argv, *rest, **kwargs)
        except CvmError as exc:
            if debugging(argv):
                raise
            self._exit(str(exc), exc.exit_code, kwargs.get("standalone_mode", True))
        except Exception as exc:
            if debugging(argv):
                raise
            self._exit(_unexpected(exc), 1, kwargs.get("standalone_mode", True))

    @staticmethod
    def _exit(message: str, code: int, standalone: bool) -> None:
        try:
            console.fail(message, code)
        except typer.Exit as done:
            if not standalone:
                raise
            sys.exit(done.exit_code)
