"""Benchmark ``cvm report growth`` on the demo company against its target: 1M customers x 3 years in 5 s.

Usage: ``python bench/report.py [--customers 1000000] [--seed 1] [--data DIR] [--workspace DIR] [--json]``.

It generates the demo company (or reuses ``--data``), ingests customers, transactions and subscriptions
into a workspace (or reuses ``--workspace``), then times, best of ``--repeat`` runs:

* the pure functions on the generated Parquet files (``growth_accounting`` on transactions, and on
  ``mrr_by_period`` of the subscriptions);
* ``engine.reports.report("growth")`` from the workspace's offline store (transactions and MRR);
* the command itself, ``cvm report growth --json``, as a new process (Python start-up included):
  this is the figure held to the 5 s target. Exits 1 when it is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from cvm.cli.console import console
from cvm.demo import generate
from cvm.engine import Engine
from cvm.reporting import growth_accounting, mrr_by_period
from cvm.reporting.churn import data_end

TARGET_SECONDS = 5.0
TABLES = ("customers", "transactions", "subscriptions")


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, float]:
    """Fastest (wall seconds, CPU seconds) of ``repeat`` runs of ``work``, child processes' CPU included.

    CPU seconds add up every thread, so they exceed wall seconds on an idle machine with several
    cores; on a busy machine they show the work done, which wall seconds no longer do.
    """
    best: tuple[float, float] | None = None
    for _ in range(repeat):
        cpu0 = _cpu()
        began = time.perf_counter()
        work()
        run = (time.perf_counter() - began, _cpu() - cpu0)
        best = run if best is None or run[0] < best[0] else best
    assert best is not None
    return best


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def cli_seconds(workspace: Path, repeat: int, *extra: str) -> tuple[float, float]:
    """Fastest run of ``cvm report growth --json`` as a new process."""
    cmd = [sys.executable, "-m", "cvm.cli.main", "report", "growth", "--json", "-w", str(workspace), *extra]
    return best_of(repeat, lambda: subprocess.run(cmd, check=True, capture_output=True))


def prepare(args: argparse.Namespace, tmp: Path) -> tuple[Path, Path, dict[str, float]]:
    """The demo folder and an ingested workspace, with the seconds each step took."""
    seconds: dict[str, float] = {}
    data = Path(args.data) if args.data else tmp / "data"
    if not args.data:
        seconds["generate"] = generate(args.customers, args.seed, data).seconds
    workspace = Path(args.workspace) if args.workspace else tmp / "ws"
    if not args.workspace:
        engine = Engine.init(workspace)
        began = time.perf_counter()
        for table in TABLES:
            if not engine.ingest(table, sorted(data.glob(f"{table}.*")), actor="bench").ok:
                raise SystemExit(f"the demo {table} were refused")
        seconds["ingest"] = time.perf_counter() - began
        engine.close()
    return data, workspace, seconds


def measure(data: Path, workspace: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """Seconds of the pure functions, the engine and the command."""
    tx = pl.scan_parquet(data / "transactions.parquet")
    subs = pl.scan_parquet(data / "subscriptions.parquet")
    as_of = data_end(tx, subs)
    engine = Engine.open(workspace)
    out = {
        "pure: growth_accounting(transactions)": best_of(repeat, lambda: growth_accounting(tx, "M")),
        "pure: growth_accounting(mrr_by_period(subscriptions))": best_of(
            repeat, lambda: growth_accounting(mrr_by_period(subs, "M", as_of=as_of), "M")
        ),
        "engine.report('growth')": best_of(repeat, lambda: engine.reports.report("growth")),
        "engine.report('growth', source='mrr')": best_of(repeat, lambda: engine.reports.report("growth", source="mrr")),
        "cvm report growth --json": cli_seconds(workspace, repeat),
        "cvm report growth --source mrr --json": cli_seconds(workspace, repeat, "--source", "mrr"),
    }
    engine.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the figures and return 0 when the command meets the target."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", help="an existing demo folder (from `cvm demo generate`)")
    parser.add_argument("--workspace", help="an existing workspace holding that demo company")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure; the fastest counts")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cvm-report-bench-") as tmp:
        data, workspace, setup = prepare(args, Path(tmp))
        rows = pl.scan_parquet(data / "transactions.parquet").select(pl.len()).collect().item()
        seconds = measure(data, workspace, args.repeat)
    ok = seconds["cvm report growth --json"][0] <= TARGET_SECONDS
    info: dict[str, Any] = {
        "customers": args.customers if not args.data else None,
        "transactions": rows,
        "cpus": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "setup_seconds": setup,
        "seconds": {name: {"wall": wall, "cpu": cpu} for name, (wall, cpu) in seconds.items()},
        "target_seconds": TARGET_SECONDS,
        "pass": ok,
    }
    if args.json:
        console.json(info)
    else:
        table: list[tuple[str, object, object, str, str]] = [(f"setup: {k}", v, "", "", "") for k, v in setup.items()]
        for name, (wall, cpu) in seconds.items():
            target = f"{TARGET_SECONDS:.0f} s" if name == "cvm report growth --json" else ""
            table.append((name, wall, cpu, target, ("pass" if ok else "FAIL") if target else ""))
        title = (
            f"cvm report growth on {rows:,} transactions, {os.cpu_count()} CPUs (load {info['load_average_1m']:.1f})"
        )
        console.table(title, ["measure", "wall s", "CPU s", "target (wall)", "result"], table)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
