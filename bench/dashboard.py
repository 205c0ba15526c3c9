"""Benchmark the dashboard's page response times on a 1M-customer demo workspace (target: under 1.5 s).

Usage: ``python bench/dashboard.py [WORKSPACE] [--customers 1000000] [--repeat 5] [--json]``.

Without WORKSPACE it generates the demo company (``cvm.demo.generate(N, 1, dir)``, three years), then
``Engine.init`` and ``engine.ingest`` for each table, into ``--cache`` (kept for the next run). The app
runs under a real uvicorn on a free port; each page is fetched over HTTP with an analyst key:

* **first**: the first request after start, before anything is cached (reports computed);
* **warm**: the median and the worst of ``--repeat`` requests after that (reports cached per manifest
  version, filters and period: what a manager sees on every visit but the first after a data load);
* the first view after start is warmed in the background: ``ready`` is how long until the default
  pages were in the cache, measured separately.

Exits 1 when a warm page misses the target.

With ``--cold``: each page is the first request of a freshly started ``cvm serve`` process (a new process
per page, nothing in memory), twice: **before** without the net-revenue table that ``cvm run`` saves
(:mod:`cvm.reporting.persisted`), **after** with it (saved first, as the end of ``cvm run`` does), then the
warm median of that server. Prints a table and the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from cvm.api import create_app
from cvm.cli.console import console
from cvm.contracts import DATA_TABLES
from cvm.engine import Engine
from cvm.reporting import persisted

TARGET_SECONDS = 1.5
DEFAULT_CACHE = Path("/tmp/cvm-bench-dashboard")


def pages(customer_id: str, query: str) -> list[str]:
    """The pages timed: every report page, its filters and periods, and the customer pages."""
    return [
        "/ui/growth",
        "/ui/growth?period=quarter",
        "/ui/growth?period=year",
        "/ui/growth?source=mrr",
        "/ui/growth?kind=B2B",
        "/ui/growth?kind=B2C&region=North&channel=direct",
        "/ui/segments",
        "/ui/segments?kind=B2B&by=sector",
        "/ui/scores",
        "/ui/scores?region=South",
        "/ui/customers",
        f"/ui/customers?q={query}",
        f"/ui/customers/{customer_id}",
        "/ui/plans",
        "/ui/pilots",
    ]


def prepare(cache: Path, customers: int) -> Path:
    """A loaded demo workspace of ``customers`` customers under ``cache`` (made once, then reused)."""
    from cvm.demo import generate

    ws, data = cache / f"ws-{customers}", cache / f"data-{customers}"
    if (ws / "cvm.yaml").exists():
        return ws
    began = time.perf_counter()
    generate(customers, 1, data)
    engine = Engine.init(ws)
    for table in DATA_TABLES:
        engine.ingest(table, sorted(data.glob(f"{table}.*")), actor="bench")
    engine.close()
    console.print(f"prepared {ws} in {time.perf_counter() - began:.0f} s")
    return ws


@contextmanager
def served(engine: Engine) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, until the block ends."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def fetch(client: httpx.Client, path: str) -> tuple[float, int, int]:
    began = time.perf_counter()
    response = client.get(path)
    return time.perf_counter() - began, response.status_code, len(response.content)


def ready_seconds(client: httpx.Client) -> float:
    """Seconds from the first dashboard request (the login page) until the growth page is cached."""
    began = time.perf_counter()
    client.get("/ui/login")
    while client.get("/ui/growth").elapsed.total_seconds() > TARGET_SECONDS:
        time.sleep(0.5)
    return time.perf_counter() - began


def measure(url: str, key: str, paths: list[str], repeat: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=600) as client:
        for path in paths:
            first, status, size = fetch(client, path)
            warm = [fetch(client, path)[0] for _ in range(repeat)]
            rows.append(
                {
                    "page": path,
                    "status": status,
                    "kb": round(size / 1024),
                    "first_s": round(first, 3),
                    "warm_median_s": round(statistics.median(warm), 3),
                    "warm_max_s": round(max(warm), 3),
                }
            )
    return rows


@contextmanager
def process(ws: Path) -> Iterator[str]:
    """A fresh ``cvm serve`` process for ``ws`` on a free port, until the block ends."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "cvm.cli.main", "serve", "-w", str(ws), "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"cvm serve exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                    ) from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def cold(ws: Path, key: str, paths: list[str], repeat: int) -> list[dict[str, object]]:
    """Each page as the first request of a fresh server, without the saved table and with it, ``repeat`` times.

    Before and after alternate (the saved folder is moved aside and back), so a change in the machine's load
    falls on both; the medians are reported, and the warm median of the last server with the table.
    """
    engine = Engine.open(ws)
    began = time.perf_counter()
    engine.reports.persist()
    console.print(f"net-revenue table saved (or already there) in {time.perf_counter() - began:.1f} s (end of cvm run)")
    saved, aside = persisted.folder(engine.offline.root), engine.offline.root / "_reports.aside"
    engine.close()
    rows: list[dict[str, object]] = []
    for path in paths:
        times: dict[str, list[float]] = {"before": [], "after": []}
        row: dict[str, object] = {"page": path}
        for _ in range(repeat):
            for state in ("before", "after"):
                os.replace(*((saved, aside) if state == "before" else (aside, saved)))
                with process(ws) as url, httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=600) as client:
                    first, row["status"], _ = fetch(client, path)
                    times[state].append(first)
                    if state == "after":
                        warm = [fetch(client, path)[0] for _ in range(repeat)]
                        row["warm_median_s"] = round(statistics.median(warm), 3)
        row |= {f"cold_{state}_s": round(statistics.median(t), 3) for state, t in times.items()}
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", nargs="?", type=Path, help="a loaded workspace to reuse")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where a generated workspace is kept")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cold", action="store_true", help="time each page on a fresh server, before/after")
    args = parser.parse_args(argv)
    ws = args.workspace or prepare(args.cache, args.customers)
    engine = Engine.open(ws)
    engine.online.migrate()
    key = engine.access.create_key("analyst", "bench/dashboard.py")[1]
    first = engine.customers.customers(limit=1)[0][0]
    paths = pages(first["customer_id"], (first.get("name") or "a").split()[-1])
    customers = engine.reports.summary().customers
    if args.cold:
        engine.close()
        load = os.getloadavg()
        rows = cold(
            ws,
            key,
            paths[:1] + [p for p in paths if p.startswith(("/ui/customers", "/ui/segments", "/ui/plans"))],
            args.repeat,
        )
        ok = all(float(str(r["cold_after_s"])) < TARGET_SECONDS for r in rows)
        columns = ["page", "status", "cold_before_s", "cold_after_s", "warm_median_s"]
        console.table(f"Fresh server, {customers:,} customers", columns, ([r.get(c) for c in columns] for r in rows))
        console.print(f"load average before/after: {load[0]:.1f} / {os.getloadavg()[0]:.1f} (2 cores)")
        console.print(f"target: every cold page under {TARGET_SECONDS} s: {'met' if ok else 'MISSED'}")
        return 0 if ok else 1
    with served(engine) as url:
        rows = measure(url, key, paths, args.repeat)
    with served(engine) as url, httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=600) as client:
        ready = ready_seconds(client)
    ok = all(r["status"] == 200 and float(str(r["warm_max_s"])) < TARGET_SECONDS for r in rows)
    if args.json:
        console.json({"workspace": str(ws), "customers": customers, "ready_s": ready, "pages": rows, "pass": ok})
    else:
        columns = ["page", "status", "kb", "first_s", "warm_median_s", "warm_max_s"]
        console.table(f"Dashboard pages, {customers:,} customers", columns, ([r[c] for c in columns] for r in rows))
        console.print(f"default pages cached {ready:.1f} s after the first request (background warm-up)")
        console.print(f"target: every warm page under {TARGET_SECONDS} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
