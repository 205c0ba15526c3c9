"""Benchmark: `cvm score` (and `cvm run`) on 1M, 4M and 10M demo customers, time and peak memory of the driver.

One command, one table. For each size a workspace is built once under ``--root`` (kept for the next run):
the demo company is generated in blocks of at most ``--block`` customers (each block its own seed, its ids
prefixed so they stay unique) and bulk-loaded into the offline store (the demo's rows are valid by
construction, so the bench skips ingestion's per-row checks); the life-cycle champions are trained once on a
``--train-size`` workspace (``cvm train`` keeps a sample on the driver) and copied into every size. Each
command then runs as its own process; its peak RSS is that of the whole process tree (a Spark driver's JVM
included), polled every 0.1 s, with the machine's load average and free memory beside it.

    python bench/scale.py --sizes 1M,4M,10M --backend duckdb
    python bench/scale.py --sizes 1M --backend spark  # CVM__STORE__OFFLINE=spark, local[2]

``--src`` runs the commands against another source tree (e.g. the code before a change).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

END = date(2026, 11, 30)
AS_OF = "2026-11-30"
TABLES = ("customers", "subscriptions", "transactions", "payments", "contacts", "surveys", "ratings")
ID_COLUMNS = ("customer_id", "subscription_id", "transaction_id", "invoice_id", "contact_id")
SPARK_ENV = {"CVM__STORE__OFFLINE": "spark", "CVM__STORE__SPARK__MASTER": "local[2]"}
MIN_FREE_GB = {10_000_000: 12.0}  # refuse a size when the shared machine has less memory available


def parse_size(text: str) -> int:
    """``1M``, ``400K`` or ``2500`` as a number of customers."""
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1_000}K" if n % 1_000 == 0 else str(n)


def available_gb() -> float:
    """MemAvailable of the machine, in GB."""
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024**2
    return float("nan")


def _tree_rss(root: int) -> tuple[int, int, int]:
    """Resident bytes of ``root`` and all its descendants, of ``root`` alone, and of the JVMs among them."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    java: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                head, rest = fh.read().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = rest.split()
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        if head.endswith("(java"):
            java.add(pid)
    total, jvm, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        jvm += rss.get(pid, 0) if pid in java else 0
        todo += children.get(pid, [])
    return total, rss.get(root, 0), jvm


@dataclass
class Measured:
    """One command's wall time, peak RSS of its process tree, of the command's own process (the driver's
    Python) and of the JVMs in the tree (Spark's driver and, in local mode, its executors), and exit status."""

    seconds: float
    peak_gb: float
    status: int
    tail: str
    own_gb: float = 0.0
    jvm_gb: float = 0.0


def measure(cmd: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run ``cmd``, polling its process tree's RSS every 0.1 s; its stdout goes to ``log``, stderr beside it."""
    began = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out, open(log.with_suffix(".err"), "w", encoding="utf-8") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        peak = own = jvm = 0
        while proc.poll() is None:
            tree, alone, java = _tree_rss(proc.pid)
            peak, own, jvm = max(peak, tree), max(own, alone), max(jvm, java)
            time.sleep(0.1)
    seconds = time.perf_counter() - began
    text = log.read_text(encoding="utf-8", errors="replace") + log.with_suffix(".err").read_text(encoding="utf-8")
    tail = text.strip().splitlines()[-1:] or [""]
    return Measured(seconds, peak / 1024**3, proc.returncode, tail[0][:100], own / 1024**3, jvm / 1024**3)


def _report(log: Path) -> dict[str, object]:
    try:
        report = json.loads(log.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def ran_on(log: Path) -> str | None:
    """The backend a command's ``--json`` report names (None when it names none)."""
    backend = _report(log).get("backend")
    return str(backend) if backend is not None else None


def _block(n: int, seed: int, out: Path, prefix: str) -> dict[str, object]:
    """One generated block of the demo company, its ids prefixed, as Polars frames per table."""
    import polars as pl

    from cvm.demo import generate

    generate(n, seed, out, end=END)
    frames: dict[str, object] = {}
    for table in TABLES:
        frame = pl.read_parquet(out / f"{table}.parquet")
        ids = [c for c in ID_COLUMNS if c in frame.columns]
        frames[table] = frame.with_columns((pl.lit(prefix) + pl.col(c)).alias(c) for c in ids)
    shutil.rmtree(out)
    return frames


def build(n: int, root: Path, block: int, models: Path | None) -> Path:
    """The workspace of ``n`` demo customers (built once; reused when it is there)."""
    from cvm.engine import Engine

    ws = root / f"ws-{label(n)}"
    if (ws / ".built").exists():
        return ws
    shutil.rmtree(ws, ignore_errors=True)
    engine = Engine.init(ws)
    try:
        for b, start in enumerate(range(0, n, block)):
            frames = _block(min(block, n - start), 1000 + b, root / f"gen-{label(n)}", f"B{b:02d}")
            with engine.offline.transaction() as tx:
                for table in TABLES:
                    tx.append(table, frames[table])  # type: ignore[arg-type]
            print(f"  {label(n)}: block {b + 1} loaded ({min(block, n - start):,} customers)", flush=True)
    finally:
        engine.close()
    if models is not None:
        shutil.copytree(models, ws / "models", dirs_exist_ok=True)
    (ws / ".built").write_text("ok", encoding="utf-8")
    return ws


def trained_models(root: Path, n: int, block: int, env: dict[str, str]) -> Path:
    """The ``models`` folder of a workspace of ``n`` customers after `cvm train` (trained once)."""
    ws = build(n, root, block, None)
    if not (ws / "models" / "churn").exists():
        cmd = [sys.executable, "-m", "cvm.cli.main", "train", "-w", str(ws)]
        done = measure(cmd, env, root / f"train-{label(n)}.log")
        print(f"  trained on {label(n)}: {done.seconds:.0f} s, {done.peak_gb:.2f} GB, status {done.status}")
    return ws / "models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,4M,10M", help="Customers per workspace, e.g. 1M,4M,10M.")
    parser.add_argument("--backend", choices=("duckdb", "spark"), default="duckdb")
    parser.add_argument("--commands", default="score", help="Comma-separated: score, run.")
    parser.add_argument("--root", type=Path, default=Path("/tmp/cvm-scale"), help="Workspaces (kept between runs).")
    parser.add_argument("--block", type=int, default=500_000, help="Customers generated per block.")
    parser.add_argument("--train-size", default="100K", help="Customers of the workspace the models train on.")
    parser.add_argument("--src", type=Path, default=None, help="Run the commands on this source tree's src/.")
    args = parser.parse_args()

    args.root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if args.src is not None:
        env["PYTHONPATH"] = str(args.src.resolve() / "src")
    if args.backend == "spark":
        env |= SPARK_ENV
    plain = {k: v for k, v in env.items() if k not in SPARK_ENV}  # the champions train once, on DuckDB
    models = trained_models(args.root, parse_size(args.train_size), args.block, plain)
    rows = []
    for n in (parse_size(s) for s in args.sizes.split(",")):
        free = available_gb()
        if free < MIN_FREE_GB.get(n, 0.0):
            rows.append([label(n), "-", "-", "-", f"{os.getloadavg()[0]:.1f}", f"{free:.1f}", "skipped: low memory"])
            continue
        ws = build(n, args.root, args.block, models)
        for command in args.commands.split(","):
            extra = ["--as-of", AS_OF] if command == "score" else []
            cmd = [sys.executable, "-m", "cvm.cli.main", command, *extra, "-w", str(ws), "--json"]
            load = os.getloadavg()[0]
            log = args.root / f"{command}-{label(n)}-{args.backend}.log"
            done = measure(cmd, env, log)
            error = " ".join(str(_report(log).get("error", done.tail)).split())
            status = "ok" if done.status == 0 else f"exit {done.status}: {error[:160]}"
            if done.status == 0 and args.backend == "spark" and ran_on(log) != "spark":  # no silent fallback
                status = f"error: the {args.backend} backend is not there (the report names {ran_on(log)})"
            rows.append(
                [
                    label(n),
                    command,
                    f"{done.seconds:.1f}",
                    f"{done.peak_gb:.2f}",
                    f"{done.own_gb:.2f}",
                    f"{done.jvm_gb:.2f}",
                    f"{load:.1f}",
                    f"{free:.1f}",
                    status,
                ]
            )
            print(json.dumps(dict(zip(HEADER, rows[-1], strict=True))), flush=True)
    print()
    print(
        f"backend {args.backend}, {os.cpu_count()} cores; peak RSS of the command's process tree, of the command's "
        "own process (the driver's Python) and of the JVMs in the tree (Spark local mode: driver and executors)"
    )
    print("".join(f"{h:>{w}}" for h, w in zip(HEADER[:-1], WIDTHS, strict=False)) + "  " + HEADER[-1])
    for row in rows:
        print("".join(f"{c:>{w}}" for c, w in zip(row[:-1], WIDTHS, strict=False)) + "  " + row[-1])


HEADER = ("customers", "command", "seconds", "peak GB", "cvm GB", "JVM GB", "load 1m", "free GB", "status")
WIDTHS = (10, 9, 9, 9, 8, 8, 9, 9)

if __name__ == "__main__":
    main()
