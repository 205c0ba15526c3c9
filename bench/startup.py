"""Benchmark the start-up of short ``cvm`` commands: wall and CPU time of a new process, median of ``--runs``.

Usage: ``python bench/startup.py [--workspace DIR] [--runs 10] [--before SRC] [--customer ID]``.

Times ``cvm --help``, ``cvm customer show ID`` and ``cvm report growth`` on a demo workspace (made with
``cvm demo --customers 2000`` in a temporary folder when ``--workspace`` is not given). ``--before SRC``
also times the same commands with another source tree first on ``PYTHONPATH`` (e.g. a checkout of the
previous commit's ``src``), so one run prints before and after side by side. Targets (issue 15): ``--help``
under 0.3 s, the other two under 0.8 s. The machine's load average is printed with the table: on a busy
machine the wall times include waiting for a core (the CPU times do not). This is a benchmark, not a test:
it never fails on a slow figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"--help": 0.3, "customer show": 0.8, "report growth": 0.8}
HERE = Path(__file__).resolve().parents[1] / "src"


def commands(customer: str) -> dict[str, list[str]]:
    """The timed commands, by label."""
    return {
        "--help": ["--help"],
        "customer show": ["customer", "show", customer],
        "report growth": ["report", "growth"],
    }


def _cpu() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def run_once(src: Path, args: list[str], workspace: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ``python -m cvm.cli.main ARGS`` process with ``src`` first on the path.

    On a busy machine the wall time includes waiting for a core; the CPU time does not.
    """
    env = os.environ | {"PYTHONPATH": str(src), "CVM_WORKSPACE": str(workspace), "COLUMNS": "80"}
    cpu = _cpu()
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cvm.cli.main", *args], env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - began, _cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"cvm {' '.join(args)} failed ({done.returncode}): {done.stderr.decode()[-400:]}")
    return elapsed


def median_of(runs: int, src: Path, args: list[str], workspace: Path) -> tuple[float, float]:
    """Median wall and CPU seconds of ``runs`` runs after one warm-up (the OS file cache)."""
    run_once(src, args, workspace)
    times = [run_once(src, args, workspace) for _ in range(runs)]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def demo_workspace(folder: Path) -> Path:
    """A 2,000-customer demo workspace made by ``cvm demo``."""
    env = os.environ | {"PYTHONPATH": str(HERE)}
    subprocess.run(
        [sys.executable, "-m", "cvm.cli.main", "demo", "--customers", "2000", "--workspace", str(folder)],
        env=env,
        check=True,
        capture_output=True,
    )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, help="A demo workspace (default: make one).")
    parser.add_argument("--runs", type=int, default=10, help="Runs per command (median).")
    parser.add_argument("--before", type=Path, help="Another source tree to compare with (its src folder).")
    parser.add_argument("--customer", default="C0000123", help="Customer id for `customer show`.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = args.workspace or demo_workspace(Path(tmp) / "demo")
        trees = ({"before": args.before.resolve()} if args.before else {}) | {"after": HERE}
        load = os.getloadavg()
        print(f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; median of {args.runs}")
        heads = "".join(f"{name + ' wall':>13}{name + ' CPU':>13}" for name in trees)
        print(f"{'command':<16}{heads}{'target':>9}")
        for label, argv in commands(args.customer).items():
            times = [median_of(args.runs, src, argv, workspace) for src in trees.values()]
            cells = "".join(f"{wall:>12.3f}s{cpu:>12.3f}s" for wall, cpu in times)
            print(f"{label:<16}{cells}{TARGETS[label]:>8.1f}s")


if __name__ == "__main__":
    main()
