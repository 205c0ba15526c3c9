"""A webhook receiver on a loopback port that misbehaves on purpose (delivery tests and ``bench/delivery.py``).

Each request gets a behaviour from ``plan(key, n)``, where ``key`` is its ``webhook-id``
(else its ``Idempotency-Key``) and ``n`` how many requests with that key arrived before:

- ``ok``: a 200 after ``delay`` seconds;
- ``fail``: a 500 at once, without acting on the action;
- ``hang``: acts on the action but never answers, until the worker closes the connection;
- ``trickle``: acts, then sends its 200 answer one byte every ``trickle_interval`` seconds.

The receiver de-duplicates by key, as a CRM should: it acts on a key once (``acted``),
and answers later copies without acting again. It records every arrival with the time
it started and the time the worker hung up or the answer was complete, so a test can
tell how long the worker held a request and whether one key was ever on the wire twice
at the same time. With ``secrets`` it verifies the Standard Webhooks signature with the
off-the-shelf ``standardwebhooks`` library.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from standardwebhooks import Webhook, WebhookVerificationError

from tests.serving import Listening

Mode = Literal["ok", "fail", "hang", "trickle"]
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Arrival:
    """One request as the receiver saw it."""

    key: str
    mode: Mode
    started: float
    ended: float = 0.0
    verified: dict[str, bool] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    body: bytes = field(default=b"", repr=False)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the peer closes ``sock`` within ``seconds``."""
    readable, _, _ = select.select([sock], [], [], seconds)
    if not readable:
        return False
    try:
        return sock.recv(1) == b""
    except OSError:
        return True


class MisbehavingReceiver:
    """A webhook endpoint whose answer to each request follows ``plan`` (see the module docstring)."""

    def __init__(
        self,
        plan: Callable[[str, int], Mode],
        *,
        secrets: Sequence[str] = (),
        delay: float = 0.0,
        trickle_interval: float = 0.5,
        hold_limit: float = 60.0,
    ) -> None:
        self.plan = plan
        self.verifiers = {s: Webhook(s) for s in secrets}
        self.delay = delay
        self.trickle_interval = trickle_interval
        self.hold_limit = hold_limit
        self.arrivals: list[Arrival] = []
        self.acted: dict[str, int] = {}
        self.lock = threading.Lock()

    def arrive(self, headers: dict[str, str], body: bytes) -> Arrival:
        key = headers.get("webhook-id") or headers.get("idempotency-key", "")
        verified = {}
        for secret, hook in self.verifiers.items():
            try:
                hook.verify(body, headers)
                verified[secret] = True
            except WebhookVerificationError:
                verified[secret] = False
        with self.lock:
            n = sum(1 for a in self.arrivals if a.key == key)
            arrival = Arrival(key, self.plan(key, n), time.monotonic(), verified=verified, headers=headers, body=body)
            self.arrivals.append(arrival)
            if arrival.mode != "fail" and key not in self.acted:
                self.acted[key] = 1
        return arrival

    def answer(self, handler: BaseHTTPRequestHandler, arrival: Arrival) -> None:
        conn: socket.socket = handler.connection
        if arrival.mode == "fail":
            handler.send_response(500)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        elif arrival.mode == "ok":
            time.sleep(self.delay)
            handler.wfile.write(ANSWER)
        elif arrival.mode == "hang":
            deadline = time.monotonic() + self.hold_limit
            while time.monotonic() < deadline and not _closed_within(conn, 0.5):
                pass
        else:
            for byte in ANSWER:
                if _closed_within(conn, self.trickle_interval):
                    break
                conn.sendall(bytes([byte]))
        handler.wfile.flush()

    def overlapping(self, slack: float = 0.25) -> list[str]:
        """Keys that arrived again while an earlier request with that key was still open.

        A handler notices that the worker hung up only when its thread next runs, so a
        request counts as open until ``slack`` seconds before the receiver noticed.
        """
        out = []
        by_key: dict[str, list[Arrival]] = {}
        for a in self.arrivals:
            by_key.setdefault(a.key, []).append(a)
        for key, arrivals in by_key.items():
            open_until = 0.0
            for a in arrivals:
                if a.started < open_until:
                    out.append(key)
                open_until = max(open_until, (a.ended or float("inf")) - slack)
        return out

    def __enter__(self) -> MisbehavingReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrival = receiver.arrive({k.lower(): v for k, v in self.headers.items()}, body)
                try:
                    receiver.answer(self, arrival)
                except OSError:  # the worker hung up
                    pass
                finally:
                    arrival.ended = time.monotonic()
                if arrival.mode in ("hang", "trickle"):
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.listening = Listening(Handler)
        self.url = self.listening.url
        return self

    def __exit__(self, *exc: object) -> None:
        self.listening.stop()
