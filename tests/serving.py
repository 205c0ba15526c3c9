"""Real servers on free loopback ports, for tests: an app under uvicorn, and a plain HTTP receiver."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class _QuietServer(ThreadingHTTPServer):
    """A threaded receiver that drops hung-up connections silently and never waits for them on close."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None


class Listening:
    """``handler`` served on a free loopback port, at :attr:`url` (``…/hook``), until :meth:`stop`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = _QuietServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@contextmanager
def cvm_serve(workspace: Path, log: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``cvm serve`` on ``workspace`` in a subprocess (extra ``args``, output to ``log``); yields its base URL.

    The child sees this interpreter's import path, so it serves the code under test.
    """
    port = free_port()
    env = {**(os.environ if env is None else env), "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "cvm.cli.main", "serve", "-w", str(workspace), "--host", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}"
    with (
        log.open("ab") as sink,
        subprocess.Popen([*cmd, "--port", str(port), *args], env=env, stdout=sink, stderr=sink) as proc,
    ):
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"cvm serve did not start: {log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)
