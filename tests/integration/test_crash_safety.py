"""A kill -9 in the middle of ingestion loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cvm.engine import Engine

N_CUSTOMERS = 1_000
N_TRANSACTIONS = 600_000


def _big_batch(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    frame = pl.DataFrame(
        {
            "transaction_id": [f"T{i:07d}" for i in range(N_TRANSACTIONS)],
            "customer_id": [f"C{i:04d}" for i in rng.integers(0, N_CUSTOMERS, N_TRANSACTIONS)],
            "ts": [
                f"2024-{m:02d}-{d:02d}T10:00:00Z"
                for m, d in zip(rng.integers(1, 13, N_TRANSACTIONS), rng.integers(1, 29, N_TRANSACTIONS), strict=True)
            ],
            "amount": rng.gamma(2.0, 40.0, N_TRANSACTIONS).round(2),
        }
    )
    path = tmp_path / "big.csv"
    frame.write_csv(path)
    return path


def _state(engine: Engine) -> tuple[int, int, int]:
    tx = engine.offline.read("transactions", ["transaction_id"])
    return (
        tx.height,
        tx["transaction_id"].n_unique(),
        len(json.loads((engine.offline.root / "_manifest.json").read_text())["batches"]),
    )


def _start(workspace: Path, path: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "cvm.cli.main", "ingest", "transactions", str(path), "-w", str(workspace), "--json"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill_when_part_appears(proc: subprocess.Popen[bytes], folder: Path, timeout: float = 120.0) -> bool:
    """Kill the ingestion as soon as it starts writing a Parquet part; False if it finished first."""
    before = set(folder.glob("*.parquet"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(folder.glob("*.parquet")) - before:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
            return True
        if proc.poll() is not None:
            proc.communicate()
            return False
        time.sleep(0.001)
    proc.kill()
    raise AssertionError("ingestion neither wrote a part nor finished in time")


@pytest.mark.slow
def test_kill9_during_ingestion_leaves_the_store_as_it_was(engine: Engine, tmp_path: Path) -> None:
    customers = pl.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(N_CUSTOMERS)],
            "acquired_at": ["2023-01-01"] * N_CUSTOMERS,
            "kind": ["B2C"] * N_CUSTOMERS,
        }
    )
    engine.ingest("customers", customers)
    path = _big_batch(tmp_path)
    before = _state(engine)
    killed_mid_write = 0
    for _ in range(3):
        proc = _start(engine.workspace, path)
        if _kill_when_part_appears(proc, engine.offline.root / "transactions"):
            killed_mid_write += 1
            assert proc.returncode == -signal.SIGKILL
            assert _state(engine) == before
    assert killed_mid_write >= 1

    proc = _start(engine.workspace, path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["accepted"] == N_TRANSACTIONS
    assert _state(engine) == (N_TRANSACTIONS, N_TRANSACTIONS, before[2] + 1)
    leftovers = [
        p
        for p in (engine.offline.root / "transactions").glob("*.parquet")
        if p not in engine.offline.files("transactions")
    ]
    assert leftovers == []


@pytest.mark.slow
def test_kill9_at_random_moments_never_leaves_half_a_batch(engine: Engine, tmp_path: Path) -> None:
    customers = pl.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(N_CUSTOMERS)],
            "acquired_at": ["2023-01-01"] * N_CUSTOMERS,
            "kind": ["B2C"] * N_CUSTOMERS,
        }
    )
    engine.ingest("customers", customers)
    path = _big_batch(tmp_path)
    rng = np.random.default_rng(3)
    for delay in rng.uniform(0.5, 6.0, size=4):
        proc = _start(engine.workspace, path)
        time.sleep(float(delay))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        rows, unique, _ = _state(engine)
        assert rows == unique
        assert rows in (0, N_TRANSACTIONS)
