"""A ``cvm`` command in its own process, started now and read later, so that two can run at once.

Tests that compare a command on DuckDB and on Spark start the DuckDB one first and read it after the Spark one:
the DuckDB run takes seconds of the minutes Spark spends waiting on its own jobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class CliRun:
    """A ``cvm ... --json`` under way in a subprocess, its output going to two files."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def report(self, timeout: float = 1200) -> dict[str, Any]:
        """Its ``--json`` report, once it ended well (no traceback, exit status 0)."""
        try:
            self.proc.wait(timeout=timeout)
        finally:
            self.stop()
        stdout, stderr = self.out.read_text(), self.err.read_text()
        assert "Traceback" not in stderr
        assert self.proc.returncode == 0, stdout[-2000:] + stderr[-2000:]
        doc: dict[str, Any] = json.loads(stdout)
        return doc

    def stop(self) -> None:
        """Kill it if it still runs (a test that failed before reading it)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_cvm(args: list[str], env: dict[str, str], output: Path) -> CliRun:
    """``cvm *args`` started with ``env`` added to this process's; its stdout and stderr in ``output``.out/.err."""
    out, err = output.with_suffix(".out"), output.with_suffix(".err")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cvm.cli.main", *args], stdout=stdout, stderr=stderr, env={**os.environ, **env}
        )
    return CliRun(proc, out, err)
