"""`cvm train`, `cvm models` and `cvm risk` as a user runs them, on a small demo company."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cvm.engine import Engine
from tests.demo_hub import ingest_demo

pytestmark = pytest.mark.slow


def cvm(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "cvm.cli.main", *args], capture_output=True, text=True, timeout=600)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def cvm_json(*args: str) -> Any:
    return json.loads(cvm(*args, "--json").stdout)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo company ingested once per module; tests work on copies of it."""
    from cvm.demo import generate

    root = tmp_path_factory.mktemp("models_cli")
    generate(2_000, 9, root / "data", end=date(2024, 12, 31))
    engine = Engine.init(root / "ws")
    ingest_demo(engine, root / "data")
    engine.close()
    return root / "ws"


@pytest.fixture
def ws(ingested: Path, tmp_path: Path) -> Path:
    """This test's own copy of the ingested workspace, before any training."""
    return Path(shutil.copytree(ingested, tmp_path / "ws"))


@pytest.fixture(scope="module")
def trained(ingested: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the ingested workspace after `cvm train` and a `cvm models promote`, as a user leaves it."""
    ws = Path(shutil.copytree(ingested, tmp_path_factory.mktemp("models_cli_trained") / "ws"))
    cvm("train", "-w", str(ws))
    cvm("models", "promote", "churn", "v1", "-w", str(ws))
    return ws


@pytest.fixture
def trained_ws(trained: Path, tmp_path: Path) -> Path:
    """This test's own copy of the trained workspace."""
    return Path(shutil.copytree(trained, tmp_path / "ws"))


def test_train_list_show_and_promote(ws: Path) -> None:
    before = cvm("score", "--as-of", "2024-10-01", "-w", str(ws)).stderr
    assert "life-cycle scores skipped" in before
    trained = cvm_json("train", "-w", str(ws))
    assert {m["name"] for m in trained["models"]} == {"churn", "default", "propensity"}
    assert all(m["status"] == "champion" for m in trained["models"])
    cvm("train", "-w", str(ws))
    listed = cvm_json("models", "list", "-w", str(ws))
    assert listed["count"] == 6
    assert {(m["name"], m["version"], m["status"]) for m in listed["data"]} >= {("churn", "v2", "challenger")}
    shown = cvm_json("models", "show", "churn", "-w", str(ws))
    assert shown["version"] == "v1"
    assert {"training_window", "features", "data_hash", "metrics"} <= set(shown)
    assert "data hash" in cvm("models", "show", "default", "--version", "v2", "-w", str(ws)).stdout
    # the same data and settings give an equally good challenger: promotion goes through
    promoted = cvm_json("models", "promote", "churn", "v2", "-w", str(ws))
    assert promoted["status"] == "champion"
    assert promoted["promotion"]["champion"] == "v1"
    missing = cvm("models", "promote", "churn", "v9", "-w", str(ws), ok=False)
    assert missing.returncode == 2
    assert "no version 'v9'" in missing.stderr


def test_score_monitor_and_risk_commands(trained_ws: Path) -> None:
    ws = trained_ws
    report = cvm_json("score", "--as-of", "2024-12-01", "-w", str(ws))
    assert any(n.startswith("life-cycle scores:") for n in report["notes"])
    monitor = cvm_json("models", "monitor", "-w", str(ws))
    assert {m["name"] for m in monitor["models"]} == {"churn", "default", "propensity"}
    table = cvm_json("risk", "cutoffs", "-w", str(ws))
    assert table["count"] == len(table["data"]) > 3
    rates = [r["approval_rate"] for r in table["data"]]
    assert rates == sorted(rates, reverse=True)
    cut = table["data"][len(table["data"]) // 2]["cutoff"]
    sim = cvm_json("risk", "simulate", "--cutoff", str(cut), "--apply", "-w", str(ws))
    assert sim["applied"]
    assert sim["direction"] == "tighten"
    assert sim["delta"]["accepted"] < 0
    assert f"cutoff: {float(cut)!r}" in (ws / "cvm.yaml").read_text()
    assert cvm_json("risk", "cutoffs", "-w", str(ws))["cutoff"] == cut
    audit = [e["action"] for e in cvm_json("audit", "-w", str(ws))]
    assert {"models.train", "models.promote", "score.lifecycle", "risk.cutoff"} <= set(audit)
    warned = cvm_json("risk", "early-warning", "-w", str(ws))
    assert warned["count"] == len(warned["data"]) or warned["count"] > len(warned["data"])
    assert "Early warning" in cvm("risk", "early-warning", "-w", str(ws)).stdout
