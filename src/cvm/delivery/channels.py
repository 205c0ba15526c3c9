"""Transports that carry an action to the systems that act on it: webhook, files, log.

A transport returns one :class:`Outcome` per item and never raises for a failed
delivery: the worker decides from the outcome whether to mark the request
delivered, retry it later or dead-letter it. Contact channels (email, sms, ...)
map to transports through ``delivery.routes``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpcore

from cvm import __version__
from cvm.config.settings import DeliverySettings
from cvm.delivery import signing
from cvm.delivery.deadline import DeadlineBackend, deadline
from cvm.delivery.exports import CsvExport, ParquetExport
from cvm.delivery.items import Outbound, Outcome
from cvm.errors import BadValueError

RETRYABLE_4XX = frozenset({408, 409, 425, 429})
ANSWER_BYTES = 4096  # of a receiver's answer, at most: enough for an error message
NETWORK_ERRORS = (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError)
log = logging.getLogger("cvm.delivery")


class Transport(Protocol):
    """Delivers items; a :class:`ConcurrentTransport` also takes them one at a time, many in flight."""

    name: str
    parallel: bool

    def deliver(self, items: Sequence[Outbound]) -> list[Outcome]: ...

    def close(self) -> None: ...


@runtime_checkable
class ConcurrentTransport(Protocol):
    """A transport with requests in flight side by side: each settles on its own, whatever the others do."""

    def submit(self, item: Outbound) -> Future[Outcome]: ...


class WebhookTransport:
    """POST each action as signed JSON (Standard Webhooks), under a total deadline, many in flight.

    Parameters
    ----------
    url
        The receiver.
    secrets
        The active secrets, newest first (two during a roll-over): each signs every request.
    deadline
        Seconds one request may take in all: connect, send and the whole answer
        (:mod:`cvm.delivery.deadline`). Past it the request stops, its connection is
        closed, and the attempt is a ``timeout``.
    timeout
        Seconds each network step (connect, write, read) may take.
    concurrency
        Requests in flight at most, one thread each; more wait for a thread before their deadline starts.
    """

    name = "webhook"
    parallel = True

    def __init__(self, url: str, secrets: Sequence[str], *, deadline: float, timeout: float, concurrency: int) -> None:
        if not secrets or not all(secrets):
            raise BadValueError("the webhook secret is empty")
        self.url = url
        self.deadline = deadline
        self._secrets = tuple(secrets)
        self._timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        self._pool = httpcore.ConnectionPool(
            max_connections=concurrency, max_keepalive_connections=concurrency, network_backend=DeadlineBackend()
        )
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="cvm-webhook")

    def submit(self, item: Outbound) -> Future[Outcome]:
        """Start delivering ``item``; the future holds its outcome (it never raises for a failed delivery)."""
        return self._threads.submit(self._send, item)

    def deliver(self, items: Sequence[Outbound]) -> list[Outcome]:
        futures = [self.submit(item) for item in items]
        return [future.result() for future in futures]

    def _send(self, item: Outbound) -> Outcome:
        body = item.body()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"cvm/{__version__}",
            "Idempotency-Key": item.idempotency_key,
            "X-CVM-Attempt": str(item.attempt),
            **signing.headers(self._secrets, item.idempotency_key, body),
        }
        start = time.perf_counter()
        try:
            with deadline(self.deadline):
                code, excerpt = self._post(body, headers)
        except httpcore.TimeoutException as exc:
            late = time.perf_counter() - start >= self.deadline
            error = f"timeout: no complete answer within the {self.deadline:g} s deadline" if late else None
            return Outcome(False, "timeout", error=error or f"timeout: {type(exc).__name__}", duration_ms=_ms(start))
        except NETWORK_ERRORS as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            return Outcome(False, "failed", error=error, duration_ms=_ms(start))
        if 200 <= code < 300:
            return Outcome(True, "delivered", http_status=code, duration_ms=_ms(start))
        permanent = 400 <= code < 500 and code not in RETRYABLE_4XX
        error = f"HTTP {code}: {excerpt}"
        return Outcome(False, "failed", http_status=code, error=error, permanent=permanent, duration_ms=_ms(start))

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """The status and the first bytes of the answer, read to its end (a large one only in part)."""
        extensions = {"timeout": self._timeouts}
        fields = list(headers.items())
        with self._pool.stream("POST", self.url, headers=fields, content=body, extensions=extensions) as response:
            seen = b""
            for chunk in response.iter_stream():
                seen += chunk[: ANSWER_BYTES - len(seen)]
                if len(seen) >= ANSWER_BYTES:
                    break
            return response.status, seen[:200].decode(errors="replace")

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        self._pool.close()


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


class LogTransport:
    """Write each action to the ``cvm.delivery`` logger (for trials and development)."""

    name = "log"
    parallel = False

    def deliver(self, items: Sequence[Outbound]) -> list[Outcome]:
        for item in items:
            log.info("action %s", item.body().decode())
        return [Outcome(True, "delivered") for _ in items]

    def close(self) -> None:
        return None


class Router:
    """The transport of each contact channel, built once per worker run."""

    def __init__(self, transports: Mapping[str, Transport], routes: Mapping[str, str], default: str) -> None:
        self.transports = dict(transports)
        self.routes = dict(routes)
        self.default = default

    def transport_for(self, channel: str) -> Transport:
        return self.transports[self.routes.get(channel, self.default)]

    def close(self) -> None:
        for transport in self.transports.values():
            transport.close()


def build_router(settings: DeliverySettings, workspace: Path, run_id: str) -> Router:
    """Create the transports that ``settings`` route to; fail early on a missing URL or secret."""
    needed = {settings.default_transport, *settings.routes.values()}
    transports: dict[str, Transport] = {}
    export_dir = workspace / settings.export_dir
    for name in sorted(needed):
        if name == "webhook":
            if not settings.webhook_url:
                raise BadValueError("delivery.webhook_url is not set, but a channel is routed to the webhook")
            if settings.webhook_secret is None or not settings.webhook_secret.get_secret_value():
                raise BadValueError("the webhook needs a secret: set CVM__DELIVERY__WEBHOOK_SECRET in the environment")
            secrets = [settings.webhook_secret.get_secret_value()]
            if settings.webhook_previous_secret is not None and settings.webhook_previous_secret.get_secret_value():
                secrets.append(settings.webhook_previous_secret.get_secret_value())
            transports[name] = WebhookTransport(
                settings.webhook_url,
                secrets,
                deadline=settings.deadline_seconds,
                timeout=settings.timeout_seconds,
                concurrency=settings.concurrency,
            )
        elif name == "csv":
            transports[name] = CsvExport(export_dir, run_id)
        elif name == "parquet":
            transports[name] = ParquetExport(export_dir, run_id)
        else:
            transports[name] = LogTransport()
    return Router(transports, settings.routes, settings.default_transport)
