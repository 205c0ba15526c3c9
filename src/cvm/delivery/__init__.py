"""Delivery: the transactional outbox, the worker that empties it, and its transports."""

from cvm.delivery.channels import ConcurrentTransport, LogTransport, Router, Transport, WebhookTransport, build_router
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
