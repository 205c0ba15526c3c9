"""Delivery: the outbox worker and the action requests it delivers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from cvm import delivery
from cvm.reporting.actions import ActionsSummary, actions_summary
from cvm.services.workspace import Workspace


class DeliveryService:
    """Build the worker of this workspace's outbox; list, count and retry its action requests."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def migrate(self) -> None:
        """Bring the online store's schema up to date (the worker and the server start with it)."""
        self.ws.online.migrate()

    def worker(self, concurrency: int | None = None) -> delivery.Worker:
        """A worker that delivers this workspace's outbox (files of this run go to ``delivery.export_dir``)."""
        s = self.ws.settings.delivery
        s = s if concurrency is None else s.model_copy(update={"concurrency": concurrency})
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        return delivery.Worker(self.ws.online, delivery.build_router(s, self.ws.root, run_id), s)

    def actions(
        self, status: str | None = None, customer_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Action requests, newest first, optionally of one status or customer."""
        with self.ws.online.begin() as conn:
            return delivery.list_requests(conn, status=status, customer_id=customer_id, limit=limit)

    def actions_status(self) -> dict[str, Any]:
        """Counts of the action requests per status, and the age of the oldest pending one."""
        with self.ws.online.begin() as conn:
            return delivery.status_counts(conn, datetime.now(UTC))

    def summary(self, now: datetime | None = None) -> ActionsSummary:
        """The Plans & actions summary: requests by status, held back by reason, contact pressure, value, dead."""
        transactions = self.ws.offline.scan("transactions")
        with self.ws.online.begin() as conn:
            return actions_summary(conn, self.ws.settings.plans.policy, transactions, now)

    def retry_action(self, request_id: int, actor: str | None = None) -> dict[str, Any]:
        """Send a dead action again, with a fresh attempt budget (audited in the same transaction)."""
        with delivery.write_transaction(self.ws.online) as conn, self.ws.unit(actor, conn) as unit:
            row = delivery.retry_request(conn, request_id, datetime.now(UTC))
            unit.record("action.retry", str(request_id))
        return row

    def confirm_action(self, request_id: int, actor: str | None = None) -> dict[str, Any]:
        """A person confirms an action that ends a relationship: the worker sends it next (audited)."""
        from cvm.delivery.confirm import confirm_request

        with delivery.write_transaction(self.ws.online) as conn, self.ws.unit(actor, conn) as unit:
            row = confirm_request(conn, request_id, datetime.now(UTC))
            unit.record("action.confirm", str(request_id))
        return row

    def reject_action(self, request_id: int, actor: str | None = None) -> dict[str, Any]:
        """A person rejects an action that ends a relationship: it is never sent (audited)."""
        from cvm.delivery.confirm import reject_request

        with delivery.write_transaction(self.ws.online) as conn, self.ws.unit(actor, conn) as unit:
            row = reject_request(conn, request_id)
            unit.record("action.reject", str(request_id))
        return row
