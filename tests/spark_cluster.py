"""A Spark standalone cluster on this machine for a test: one master and one worker, from pyspark's own jars.

pyspark's pip package has no ``sbin/start-master.sh``, so the master and the worker are started with its
``bin/spark-class`` (the scripts' own launcher), on free ports of 127.0.0.1, with their logs and work folder
under the test's temporary folder, and stopped (by their process ids) when the test ends. The worker has
one gigabyte and two cores; its executors run this interpreter, with this checkout's sources first on the path.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyspark

SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def executor_env() -> dict[str, str]:
    """What the cluster's processes (and a driver talking to them) need: this interpreter and these sources."""
    path = os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {"PYSPARK_PYTHON": sys.executable, "PYTHONPATH": path, "SPARK_LOCAL_IP": "127.0.0.1"}


@dataclass(frozen=True)
class Cluster:
    """A running standalone cluster: its master URL and the URL of the master's status page."""

    master: str
    status_url: str
    logs: Path

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.status_url, timeout=10) as r:  # 127.0.0.1, a port we chose
            doc: dict[str, Any] = json.load(r)
        return doc

    def applications(self) -> list[str]:
        """The names of the applications the master ran or runs."""
        doc = self.status()
        return [a["name"] for a in doc.get("completedapps", []) + doc.get("activeapps", [])]


def _launch(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    with log.open("wb") as out:
        return subprocess.Popen([str(spark_class), *args], stdout=out, stderr=subprocess.STDOUT, env=env)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


@contextmanager
def standalone_cluster(folder: Path, timeout: float = 180.0) -> Iterator[Cluster]:
    """Start a master and one worker (1 GB, 2 cores) on 127.0.0.1; yield the cluster; stop both."""
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **executor_env(),
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "SPARK_LOG_DIR": str(logs),
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",  # no REST server on its fixed port 6066
    }
    port, ui = free_port(), free_port()
    master = f"spark://127.0.0.1:{port}"
    cluster = Cluster(master, f"http://127.0.0.1:{ui}/json/", logs)
    master_args = ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)]
    procs = [_launch(["org.apache.spark.deploy.master.Master", *master_args], logs / "master.out", env)]
    try:
        worker = ["org.apache.spark.deploy.worker.Worker", master, "--host", "127.0.0.1", "--cores", "2"]
        worker += ["--memory", "1g", "--webui-port", str(free_port()), "--work-dir", str(folder / "work")]
        procs.append(_launch(worker, logs / "worker.out", env))
        deadline = time.monotonic() + timeout
        while True:
            with suppress(OSError, ValueError):
                if cluster.status().get("aliveworkers", 0) >= 1:
                    break
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                tails = {p.name: p.read_text(errors="replace")[-2000:] for p in logs.glob("*.out")}
                raise RuntimeError(f"the standalone cluster did not start within {timeout:.0f} s: {tails}")
            time.sleep(1.0)
        yield cluster
    finally:
        for proc in reversed(procs):
            _stop(proc)
