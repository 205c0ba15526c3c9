"""Access: API keys (create, list, revoke, authenticate) and the audit log."""

from __future__ import annotations

from typing import Any

from cvm import access
from cvm.services.workspace import Workspace


class AccessService:
    """API keys and the audit log of this workspace."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def create_key(self, role: str, label: str | None = None, actor: str | None = None) -> tuple[access.ApiKey, str]:
        """A new key of ``role``, and its secret (shown once)."""
        with self.ws.online.begin() as conn, self.ws.unit(actor, conn) as unit:
            key, secret = access.create_key(conn, role, label)
            unit.record("key.create", key.id, 1, role=role)
        return key, secret

    def list_keys(self) -> list[access.ApiKey]:
        with self.ws.online.begin() as conn:
            return access.list_keys(conn)

    def revoke_key(self, key_id: str, actor: str | None = None) -> access.ApiKey:
        with self.ws.online.begin() as conn, self.ws.unit(actor, conn) as unit:
            key = access.revoke_key(conn, key_id)
            unit.record("key.revoke", key_id, 1)
        return key

    def authenticate(self, presented: str) -> access.ApiKey | None:
        """The active key whose secret is ``presented``, or None."""
        with self.ws.online.read() as conn:  # a read, and at most one update (of the last use)
            return access.authenticate(conn, presented)

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit entries, newest first."""
        return self.ws.online.audit_entries(limit)

    @property
    def backend(self) -> str:
        """The online store's backend (``sqlite`` or ``postgresql``), shown to authenticated callers."""
        return self.ws.online.backend
