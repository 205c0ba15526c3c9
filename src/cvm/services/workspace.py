"""One workspace: its folder, settings, offline store, online store and audit writer.

Every service of :mod:`cvm.services` is built on one :class:`Workspace`, so they all see the same
stores and the same (reloadable) settings. Auditing goes through :meth:`Workspace.unit` or the
:func:`audited` decorator built on it: one entry per unit of work, written when the work commits.
"""

from __future__ import annotations

import functools
import getpass
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import sqlalchemy as sa

from cvm.config import Settings, load_settings
from cvm.store import OfflineStore, OnlineStore, private
from cvm.store.backend import OfflineBackend, open_backend
from cvm.store.fs import locate

P = ParamSpec("P")
R = TypeVar("R")


def default_actor() -> str:
    """``cli:<user>``, the actor of work started from this machine without a named caller."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@dataclass(frozen=True)
class Audit:
    """One audit entry: what was done (``action``) to what (``target``), how many rows, and details."""

    action: str
    target: str | None = None
    rows: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Unit:
    """A unit of work in progress: at most one :class:`Audit` recorded, and the transaction if it has one."""

    def __init__(self, conn: sa.Connection | None) -> None:
        self._conn = conn
        self.entry: Audit | None = None

    @property
    def conn(self) -> sa.Connection:
        """The online transaction the work and its audit entry share (units opened with ``conn=``)."""
        if self._conn is None:
            raise RuntimeError("this unit of work has no online transaction")
        return self._conn

    def record(self, action: str, target: str | None = None, rows: int | None = None, **detail: Any) -> None:
        """Record the unit's audit entry (written when the work commits)."""
        self.entry = Audit(action, target, rows, detail)


class Workspace:
    """A workspace folder with its settings and stores (the online store opens on first use)."""

    def __init__(self, root: Path, settings: Settings | None = None) -> None:
        private.restrict_umask()  # workspace files 0600, folders 0700 (see cvm.store.private)
        self.root = Path(root).resolve()
        private.secure_root(self.root)
        self.settings = settings or load_settings(self.root)
        location = locate(self.settings.store.offline_path, self.root)  # a folder, or s3:// (cvm.store.fs)
        self.offline = OfflineStore(location, scratch=None if location.local else self.root / "offline-scratch")
        self._online: OnlineStore | None = None
        self._backend: OfflineBackend | None = None

    @property
    def backend(self) -> OfflineBackend:
        """The offline compute backend named by ``store.offline`` (duckdb or spark), over :attr:`offline`."""
        if self._backend is None or self._backend.name != self.settings.store.offline:
            self._backend = open_backend(self.settings, self.offline)
        return self._backend

    @property
    def online(self) -> OnlineStore:
        if self._online is None:
            url = self.settings.store.online_url or f"sqlite:///{self.root / 'online.db'}"
            self._online = OnlineStore(url)
        return self._online

    def reload(self) -> Settings:
        """Read ``cvm.yaml`` again (after a command changed it)."""
        self.settings = load_settings(self.root)
        return self.settings

    def close(self) -> None:
        if self._online is not None:
            self._online.dispose()

    def write_audit(self, actor: str | None, entry: Audit, conn: sa.Connection | None = None) -> None:
        """Append ``entry`` to the audit log, in ``conn``'s transaction or in one of its own."""
        if conn is None:
            with self.online.begin() as own:
                self.write_audit(actor, entry, own)
            return
        detail = entry.detail or None
        who = actor or default_actor()
        self.online.audit(conn, actor=who, action=entry.action, target=entry.target, rows=entry.rows, detail=detail)

    @contextmanager
    def unit(self, actor: str | None, conn: sa.Connection | None = None) -> Iterator[Unit]:
        """A unit of work whose recorded audit entry is written when the work succeeds.

        With ``conn`` (an open online transaction) the entry is written in that transaction, so
        the work and its record commit together; without, in its own transaction after the work.
        """
        unit = Unit(conn)
        yield unit
        if unit.entry is not None:
            self.write_audit(actor, unit.entry, conn)


class Service(Protocol):
    """What :func:`audited` needs of a service: its workspace."""

    ws: Workspace


S = TypeVar("S", bound=Service)
Describe = Callable[[Any, Mapping[str, Any]], Audit | None]


def audited(describe: Describe) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], R]]:
    """Write one audit entry after a service method returns: ``describe(result, arguments)`` says which.

    The method takes a keyword ``actor`` (``None``: :func:`default_actor`); ``describe`` gets the
    result and the call's arguments by name (defaults filled in) and returns the entry, or ``None``
    when the call changed nothing worth recording. A method that raises records nothing.
    """

    def wrap(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def run(service: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            call = signature.bind(service, *args, **kwargs)
            call.apply_defaults()
            with service.ws.unit(call.arguments.get("actor")) as unit:
                result = method(service, *args, **kwargs)
                unit.entry = describe(result, call.arguments)
            return result

        return run

    return wrap
