"""Turn known errors into one readable line and a non-zero exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cvm.cli.console import console
from cvm.config import ConfigError
from cvm.customers import UnknownCustomerError
from cvm.engine import Engine, WorkspaceError
from cvm.ingest.readers import SourceError
from cvm.store import StoreError

KNOWN = (ConfigError, WorkspaceError, SourceError, StoreError, UnknownCustomerError, KeyError, ValueError)


@contextmanager
def handled() -> Iterator[None]:
    """Report a known error cleanly (exit 2) instead of a traceback."""
    try:
        yield
    except KNOWN as exc:
        message = (
            exc.args[0]
            if isinstance(exc, KeyError) and exc.args and not isinstance(exc, UnknownCustomerError)
            else str(exc)
        )
        console.fail(str(message))


def open_engine(workspace: Path) -> Engine:
    """Open the workspace or exit with a message saying how to create it."""
    with handled():
        return Engine.open(workspace)
    raise AssertionError("unreachable")  # pragma: no cover
