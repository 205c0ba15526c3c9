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
from pathlib import Path
from typing import Protocol

import httpx

from cvm import __version__
from cvm.config.settings import DeliverySettings
from cvm.delivery.exports import CsvExport, ParquetExport
from cvm.delivery.items import Outbound, Outcome
from cvm.delivery.signing import HEADER, sign

RETRYABLE_4XX = frozenset({408, 409, 425, 429})
log = logging.getLogger("cvm.delivery")


class Transport(Protocol):
    """Delivers items; ``parallel`` transports take one item per call from many threads."""

    name: str
    parallel: bool

    def deliver(self, items: Sequence[Outbound]) -> list[Outcome]: ...

    def close(self) -> None: ...


class WebhookTransport:
    """POST each action as signed JSON, with an ``Idempotency-Key`` header and a timeout."""

    name = "webhook"
    parallel = True

    def __init__(self, url: str, secret: str, timeout: float) -> None:
        if not secret:
            raise ValueError("the webhook secret is empty")
        self.url = url
        self._secret = secret
        self._client = httpx.Client(timeout=timeout, headers={"User-Agent": f"cvm/{__version__}"})

    def _send(self, item: Outbound) -> Outcome:
        body = item.body()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": item.idempotency_key,
            HEADER: sign(self._secret, body),
            "X-CVM-Attempt": str(item.attempt),
        }
        start = time.perf_counter()
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            ms = (time.perf_counter() - start) * 1000
            return Outcome(False, "timeout", error=f"timeout: {type(exc).__name__}", duration_ms=ms)
        except httpx.HTTPError as exc:
            ms = (time.perf_counter() - start) * 1000
            return Outcome(False, "failed", error=f"{type(exc).__name__}: {exc}"[:1000], duration_ms=ms)
        ms = (time.perf_counter() - start) * 1000
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(True, "delivered", http_status=code, duration_ms=ms)
        permanent = 400 <= code < 500 and code not in RETRYABLE_4XX
        error = f"HTTP {code}: {response.text[:200]}"
        return Outcome(False, "failed", http_status=code, error=error, permanent=permanent, duration_ms=ms)

    def deliver(self, items: Sequence[Outbound]) -> list[Outcome]:
        return [self._send(item) for item in items]

    def close(self) -> None:
        self._client.close()


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
                raise ValueError("delivery.webhook_url is not set, but a channel is routed to the webhook")
            if settings.webhook_secret is None or not settings.webhook_secret.get_secret_value():
                raise ValueError("the webhook needs a secret: set CVM__DELIVERY__WEBHOOK_SECRET in the environment")
            secret = settings.webhook_secret.get_secret_value()
            transports[name] = WebhookTransport(settings.webhook_url, secret, settings.timeout_seconds)
        elif name == "csv":
            transports[name] = CsvExport(export_dir, run_id)
        elif name == "parquet":
            transports[name] = ParquetExport(export_dir, run_id)
        else:
            transports[name] = LogTransport()
    return Router(transports, settings.routes, settings.default_transport)
