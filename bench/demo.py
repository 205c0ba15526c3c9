"""Benchmark the demo generator against its product targets: 1M customers in 120 s and 8 GB.

Usage: ``python bench/demo.py [--customers 1000000] [--seed 1] [--json]``. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from pathlib import Path

from cvm.cli.console import console
from cvm.demo import generate

TARGET_SECONDS = 120.0
TARGET_BYTES = 8 * 1024**3


def peak_rss_bytes() -> int:
    """Peak resident memory of this process (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def main(argv: list[str] | None = None) -> int:
    """Generate into a temporary folder, print the figures and return 0 when both targets are met."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cvm-demo-bench-") as tmp:
        summary = generate(args.customers, args.seed, Path(tmp))
        disk = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    peak = peak_rss_bytes()
    ok_time, ok_memory = summary.seconds <= TARGET_SECONDS, peak <= TARGET_BYTES
    if args.json:
        console.json(
            {
                **summary.to_dict(),
                "customers": args.customers,
                "peak_rss_bytes": peak,
                "disk_bytes": disk,
                "cpus": os.cpu_count(),
                "targets": {"seconds": TARGET_SECONDS, "peak_rss_bytes": TARGET_BYTES},
                "pass": ok_time and ok_memory,
            }
        )
    else:
        verdict = {True: "pass", False: "FAIL"}
        rows: list[tuple[str, object, str, str]] = [("customers", args.customers, "", "")]
        rows += [(f"rows: {name}", n, "", "") for name, n in summary.rows.items()]
        rows += [
            ("disk (MB)", disk / 1024**2, "", ""),
            ("seconds", summary.seconds, f"{TARGET_SECONDS:.0f} s", verdict[ok_time]),
            ("peak RSS (GB)", peak / 1024**3, f"{TARGET_BYTES / 1024**3:.0f} GB", verdict[ok_memory]),
        ]
        console.table(f"cvm.demo.generate on {os.cpu_count()} CPUs", ["measure", "value", "target", "result"], rows)
    return 0 if ok_time and ok_memory else 1


if __name__ == "__main__":
    raise SystemExit(main())
