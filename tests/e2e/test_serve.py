"""`cvm serve` as a user starts it: a real process answering over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import CUSTOMERS_CSV, write
from tests.e2e.test_cli import cvm
from tests.serving import free_port


def test_serve_answers_health_openapi_and_keyed_requests(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    cvm("init", str(ws))
    cvm("ingest", "customers", str(write(tmp_path / "c.csv", CUSTOMERS_CSV)), "-w", str(ws))
    key = json.loads(cvm("keys", "create", "--role", "analyst", "-w", str(ws), "--json").stdout)["key"]
    port = free_port()
    cmd = [sys.executable, "-m", "cvm.cli.main", "serve", "-w", str(ws), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "cvm serve did not come up"
                time.sleep(0.1)
        assert health.json()["status"] == "ok"
        assert "/customers/{customer_id}" in httpx.get(f"{base}/openapi.json").json()["paths"]
        assert httpx.get(f"{base}/customers").status_code == 401
        page = httpx.get(f"{base}/customers", headers={"X-API-Key": key}).json()
        assert page["count"] == 3
    finally:
        proc.terminate()
        proc.wait(timeout=20)
