"""Delivery: the transactional outbox, the worker that empties it, and its transports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cvm.lazy import lazy_attribute

if TYPE_CHECKING:
    from cvm.delivery.channels import (
        ConcurrentTransport,
        LogTransport,
        Router,
        Transport,
        WebhookTransport,
        build_router,
    )
    from cvm.delivery.claims import Claim, RetryPolicy, WorkerStats
    from cvm.delivery.items import Outbound, Outcome
    from cvm.delivery.outbox import (
        STATUSES,
        Enqueued,
        contact_history_rows,
        enqueue,
        list_requests,
        planned_contacts,
        record_suppressions,
        retry_request,
        status_counts,
        write_transaction,
    )
    from cvm.delivery.signing import sign, verify
    from cvm.delivery.worker import Worker

_MODULES = {
    "Claim": ".claims",
    "ConcurrentTransport": ".channels",
    "Enqueued": ".outbox",
    "LogTransport": ".channels",
    "Outbound": ".items",
    "Outcome": ".items",
    "RetryPolicy": ".claims",
    "Router": ".channels",
    "STATUSES": ".outbox",
    "Transport": ".channels",
    "WebhookTransport": ".channels",
    "Worker": ".worker",
    "WorkerStats": ".claims",
    "build_router": ".channels",
    "contact_history_rows": ".outbox",
    "enqueue": ".outbox",
    "list_requests": ".outbox",
    "planned_contacts": ".outbox",
    "record_suppressions": ".outbox",
    "retry_request": ".outbox",
    "sign": ".signing",
    "status_counts": ".outbox",
    "verify": ".signing",
    "write_transaction": ".outbox",
}


def __getattr__(name: str) -> Any:
    """Each name is imported from its module when first asked for: reading the outbox loads no transport."""
    return lazy_attribute(__name__, _MODULES, name)


__all__ = [
    "STATUSES",
    "Claim",
    "ConcurrentTransport",
    "Enqueued",
    "LogTransport",
    "Outbound",
    "Outcome",
    "RetryPolicy",
    "Router",
    "Transport",
    "WebhookTransport",
    "Worker",
    "WorkerStats",
    "build_router",
    "contact_history_rows",
    "enqueue",
    "list_requests",
    "planned_contacts",
    "record_suppressions",
    "retry_request",
    "sign",
    "status_counts",
    "verify",
    "write_transaction",
]
